import assert from "node:assert/strict";
import { adminApp } from "../../../relay/admin/app.ts";
import { systemClock } from "../../../lib/clock.ts";
import { ingestOutbox } from "../../../db/ingest.ts";
import { testDatabase } from "../../_support/db.ts";
import { settleAll, TOKEN } from "./_helpers.ts";

Deno.test("adminApp() over a real socket: auth, enqueue, read back, and an SSE client hanging up", async () => {
  await using t = await testDatabase();
  let woken = 0;
  const stop = new AbortController();
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      signal: stop.signal,
      onListen: () => {},
    },
    adminApp({
      db: t.db,
      token: TOKEN,
      ready: () => ({ ready: true }),
      clock: systemClock,
      eventPollMs: 20,
      hooks: { wake: () => woken++ },
    }).fetch,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  try {
    const denied = await fetch(`${base}/api/v1/queue`, {
      headers: { authorization: "Bearer nope" },
    });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get("www-authenticate"), "Bearer");
    await denied.body?.cancel();

    const health = await fetch(`${base}/healthz`);
    assert.deepEqual(await health.json(), { status: "ok" });

    const created = await fetch(`${base}/api/v1/messages`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({
        from_address: "a@shop.test",
        to_addresses: ["b@example.test"],
        text_body: "hi",
      }),
    });
    assert.equal(created.status, 201);
    const { id } = await created.json();
    assert.equal(woken, 1);
    await ingestOutbox(t.db, { now: new Date() });

    const events = await fetch(`${base}/api/v1/events?after=0`, { headers: auth });
    const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    await settleAll(t.db, new Date(Date.now() + 1000), "delivered");
    let text = "";
    for (let i = 0; i < 100 && !text.includes("event: delivery"); i++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    assert.match(text, /"kind":"delivered"/);
    await reader.cancel(); // the client hangs up mid-stream

    const detail = await (await fetch(`${base}/api/v1/messages/${id}`, { headers: auth })).json();
    assert.equal(detail.deliveries[0].status, "delivered");
    const missing = await fetch(`${base}/api/v1/messages/987654`, { headers: auth });
    assert.equal(missing.status, 404);
    assert.match((await missing.json()).error, /987654/);

    const metrics = await fetch(`${base}/metrics`);
    assert.match(metrics.headers.get("content-type")!, /^text\/plain/);
    assert.match(await metrics.text(), /ferry_queue_depth\{status="queued"\} 0/);
  } finally {
    stop.abort();
    await server.finished;
  }
});

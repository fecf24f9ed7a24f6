import assert from "node:assert/strict";
import { ingestOutbox } from "../../../db/ingest.ts";
import { insertMany } from "../../_support/outbox.ts";
import { fixture, settleAll, TOKEN } from "./_helpers.ts";

/** Reads from an SSE body until `count` delivery events have arrived; returns their data. */
async function readEvents(
  reader: ReadableStreamDefaultReader<string>,
  count: number,
  state: { buf: string },
): Promise<{ id: number; data: Record<string, unknown> }[]> {
  const out: { id: number; data: Record<string, unknown> }[] = [];
  for (let i = 0; i < 1000 && out.length < count; i++) {
    let cut;
    while ((cut = state.buf.indexOf("\n\n")) >= 0 && out.length < count) {
      const block = state.buf.slice(0, cut);
      state.buf = state.buf.slice(cut + 2);
      const id = /^id: (\d+)$/m.exec(block);
      const data = /^data: (.*)$/m.exec(block);
      if (id && data && /^event: delivery$/m.test(block)) {
        out.push({ id: Number(id[1]), data: JSON.parse(data[1]!) });
      }
    }
    if (out.length >= count) break;
    const { value, done } = await reader.read();
    if (done) break;
    state.buf += value;
  }
  return out;
}

Deno.test("GET /api/v1/events streams delivery events live and stops when the client leaves", async () => {
  await using f = await fixture({ eventPollMs: 1000 });
  const now = new Date(f.clock.now());
  await insertMany(f.db, 5, "live.test", now);
  await ingestOutbox(f.db, { now });
  await settleAll(f.db, now, "delivered", 3);

  const res = await f.call("GET", "/api/v1/events?after=0");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const state = { buf: "" };
  const first = await readEvents(reader, 3, state);
  assert.deepEqual(first.map((e) => e.data.kind), ["delivered", "delivered", "delivered"]);
  assert.equal(first[0]!.data.domain, "live.test");

  // Nothing new: the stream waits on the clock; a new outcome shows at the next poll.
  const next = readEvents(reader, 2, state);
  await f.clock.untilSleeping();
  await settleAll(f.db, now, "bounced", 2);
  await f.clock.advance(1000);
  const more = await next;
  assert.deepEqual(more.map((e) => e.data.kind), ["bounced", "bounced"]);
  assert.ok(more[0]!.id > first[2]!.id);

  await reader.cancel();
  assert.equal(f.clock.pending, 0, "the poll's timer is released with the connection");
});

Deno.test("GET /api/v1/events starts at the newest event, or after Last-Event-ID", async () => {
  await using f = await fixture();
  const now = new Date(f.clock.now());
  await insertMany(f.db, 4, "x.test", now);
  await ingestOutbox(f.db, { now });
  await settleAll(f.db, now, "delivered", 2);

  const resumed = await f.app.request("/api/v1/events", {
    headers: { authorization: `Bearer ${TOKEN}`, "last-event-id": "1" },
  });
  const r1 = resumed.body!.pipeThrough(new TextDecoderStream()).getReader();
  const got = await readEvents(r1, 1, { buf: "" });
  assert.equal(got[0]!.id, 2);
  await r1.cancel();

  const fresh = await f.call("GET", "/api/v1/events");
  const r2 = fresh.body!.pipeThrough(new TextDecoderStream()).getReader();
  const pending = readEvents(r2, 1, { buf: "" });
  await f.clock.untilSleeping();
  await settleAll(f.db, now, "deferred", 1);
  await f.clock.advance(1000);
  const [only] = await pending;
  assert.equal(only!.data.kind, "deferred", "history before the connection is not replayed");
  await r2.cancel();
  assert.equal(f.clock.pending, 0);
});

Deno.test("GET /api/v1/stats/throughput buckets events by kind", async () => {
  await using f = await fixture();
  const now = new Date(f.clock.now());
  const minuteAgo = new Date(now.getTime() - 60_000);
  await insertMany(f.db, 6, "x.test", minuteAgo);
  await ingestOutbox(f.db, { now: minuteAgo });
  await settleAll(f.db, minuteAgo, "delivered", 4);
  await settleAll(f.db, now, "bounced", 2);
  const body = await (await f.call("GET", "/api/v1/stats/throughput?minutes=5&bucket=60")).json();
  assert.equal(body.bucket_seconds, 60);
  assert.equal(body.buckets.length, 5);
  const last = body.buckets.at(-1);
  const before = body.buckets.at(-2);
  assert.deepEqual(last.counts, { bounced: 2 });
  assert.deepEqual(before.counts, { delivered: 4 });
  assert.equal((await f.call("GET", "/api/v1/stats/throughput?bucket=0")).status, 400);
});

/**
 * The benchmark's own instruments, checked so that a figure cannot come from a broken one: the
 * recording receiver (250 times per message, whatever the TCP chunking), the open-loop writer
 * (one committed row per arrival, on schedule), the percentile, and the README table (targets
 * judged, unsafe variants labelled).
 */
import assert from "node:assert/strict";
import { startRecordingSink, wallMs } from "./_recording_sink.ts";
import { percentile } from "./_relay_latency.ts";
import { markdownTable, parseFigures } from "./_readme_table.ts";
import type { WriterOptions, WriterResult } from "./_open_loop_writer.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";

async function smtp(port: number, chunks: readonly string[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  // A bound, not a wait: a receiver that never answers fails the test instead of hanging it.
  const bound = setTimeout(() => conn.close(), 10_000);
  const enc = new TextEncoder();
  let got = "";
  const buf = new Uint8Array(4096);
  const readUntil = async (marker: string) => {
    while (!got.includes(marker)) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
  };
  try {
    await readUntil("220 ");
    for (const c of chunks) {
      await conn.write(enc.encode(c));
      // Let the receiver read each chunk on its own.
      await new Promise((r) => setTimeout(r, 5));
    }
    await readUntil("221 ");
  } finally {
    clearTimeout(bound);
    try {
      conn.close();
    } catch {
      // Closed by the bound.
    }
  }
  return got;
}

Deno.test("startRecordingSink() answers each message once and times its 250, across split chunks", async () => {
  await using sink = startRecordingSink();
  const before = wallMs();
  const message = (seq: number | undefined) =>
    `From: a@x.test\r\nTo: b@y.test\r\n${
      seq === undefined ? "" : `X-Bench-Seq: ${seq}\r\n`
    }Subject: s\r\n\r\nbody\r\n..dot-stuffed line\r\n`;
  const replies = await smtp(sink.port, [
    "EHLO c.test\r\n",
    // Pipelined envelope, then a message whose end ("\r\n.\r\n") is split over two writes.
    "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n",
    message(7).slice(0, -1),
    "\r\n.",
    "\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n",
    `${message(8)}.\r\n`,
    `MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n${message(undefined)}.\r\nQUIT\r\n`,
  ]);
  assert.equal(replies.match(/^250 2\.0\.0 queued/gm)?.length, 3, replies);
  assert.deepEqual(sink.answered.map((a) => a.seq), [7, 8]);
  assert.ok(sink.answered[0]!.at >= before && sink.answered[1]!.at >= sink.answered[0]!.at);
  assert.equal(sink.count(), 3);
  assert.equal(sink.kept.length, 1, "the message without a sequence number is kept");
  assert.match(sink.kept[0]!, /\r\n\.\.dot-stuffed line\r\n$/);
});

Deno.test("percentile() is the nearest rank", () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(values, 0.5), 50);
  assert.equal(percentile(values, 0.99), 99);
  assert.equal(percentile(values, 1), 100);
  assert.equal(percentile([5], 0.99), 5);
  assert.ok(Number.isNaN(percentile([], 0.5)));
});

Deno.test("markdownTable() judges the targets and labels a run that was not durable", () => {
  const lines = [
    `{"bench":"env","date":"2026-12-04T09:00:00Z","cores":2,"load_avg":[1.5,1,1],"durable":false,"commit":"abc","variant":"fsync off (unsafe)"}`,
    `{"bench":"relay","phase":"settings","knobs":{"FERRY_BENCH_MESSAGES":"500"},"variant":"fsync off (unsafe)"}`,
    `{"bench":"relay","phase":"drain","system":"ferry","dkim":"none","messages":500,"message_bytes":2339,"domains":200,"messages_per_s":1000,"peak_rss_mb":200,"load_avg_before":[1.5,1,1]}`,
    `{"bench":"relay","phase":"drain","system":"postfix","messages_per_s":400,"load_avg_after":[2.25,1,1]}`,
    `{"bench":"relay","phase":"ratio","ferry_over_postfix":2.5}`,
    `{"bench":"relay","phase":"dkim","dkim":"ed25519-sha256","key":"Ed25519","messages_per_s":950,"relative":0.95,"cost_pct":5,"target_cost_pct":10,"pairs":[{"cost_pct":3},{"cost_pct":7}]}`,
    `{"bench":"relay","phase":"latency","rate_per_s":200,"n":6000,"p50_ms":12.3,"p99_ms":61,"max_ms":90}`,
    "| not a figure |",
  ];
  const table = markdownTable(parseFigures(lines.join("\n")));
  assert.match(table, /fsync off \(unsafe\)/);
  assert.match(table, /Command: `FERRY_BENCH_MESSAGES=500 deno task bench relay`/);
  assert.match(table, /\| Ferry \/ Postfix \| 2\.50× \| ≥ 3× \| \*\*no\*\* \|/);
  assert.match(table, /ed25519-sha256.*cost 5%, median of 3%, 7%;.*\) \| cost ≤ 10% \| yes \|/);
  assert.match(table, /12\.3 \/ 61\.0 \/ 90\.0 ms \| ≤ 15 \/ ≤ 50 ms \| \*\*no\*\* \|/);
  assert.match(table, /1\.50 \/ 2\.25/);
});

Deno.test({
  name: "the open-loop writer commits one row per arrival, on schedule",
  ignore: serverOnly,
  async fn() {
    await using database = await testDatabase();
    const dir = await Deno.makeTempDir();
    try {
      const options: WriterOptions = {
        url: database.url!,
        rate: 100,
        count: 30,
        domains: 3,
        body: "hello",
        out: `${dir}/out.json`,
      };
      const status = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          new URL("./_open_loop_writer.ts", import.meta.url).pathname,
          JSON.stringify(options),
        ],
        stdin: "null",
      }).spawn().status;
      assert.ok(status.success);
      const out = JSON.parse(await Deno.readTextFile(options.out)) as WriterResult;
      assert.deepEqual(out.records.map((r) => r.seq), Array.from({ length: 30 }, (_, i) => i));
      for (const r of out.records) {
        assert.ok(r.committed >= r.began && r.began >= r.due - 1, JSON.stringify(r));
        if (r.seq > 0) assert.equal(Math.round(r.due - out.records[r.seq - 1]!.due), 10);
      }
      const rows = await database.db.selectFrom("ferry.outbox")
        .select(["id", "headers", "to_addresses"]).orderBy("id").execute();
      assert.equal(rows.length, 30);
      assert.deepEqual(
        rows.map((r) => Number((r.headers as Record<string, string>)["X-Bench-Seq"])).sort((a, b) =>
          a - b
        ),
        out.records.map((r) => r.seq),
      );
      assert.deepEqual(
        new Set(out.records.map((r) => r.outboxId)),
        new Set(rows.map((r) => Number(r.id))),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

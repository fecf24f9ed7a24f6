/**
 * The application of the latency benchmark, as its own process: commits one `ferry.outbox` row
 * per transaction (BEGIN, INSERT, COMMIT) at fixed arrival times, `rate` per second by the wall
 * clock, whatever the previous commits took (open loop: a slow commit does not delay the next
 * arrival; when the writer falls behind it sends at once and skips nothing). Message `seq`
 * carries an `X-Bench-Seq` header; for each, it records when it was due, when its transaction
 * began, and the wall-clock time right after COMMIT returned: where latency starts.
 *
 * Run by relay_bench.ts: `deno run -A _open_loop_writer.ts <json options>`; writes one JSON
 * array to `out` and exits 0, or exits 1 naming what failed.
 *
 * @module
 */
import pg from "pg";

export interface WriterOptions {
  readonly url: string;
  readonly rate: number;
  readonly count: number;
  readonly domains: number;
  readonly body: string;
  /** Where the results go (JSON: {@link WriterResult}). */
  readonly out: string;
}

export interface WriterRecord {
  readonly seq: number;
  readonly outboxId: number;
  /** Wall-clock ms: when the arrival was due, when BEGIN was sent, when COMMIT returned. */
  readonly due: number;
  readonly began: number;
  readonly committed: number;
}

export interface WriterResult {
  readonly records: readonly WriterRecord[];
  /** Transactions open at once at most (the pool's size bounds it). */
  readonly maxInFlight: number;
}

const wallMs = (): number => performance.timeOrigin + performance.now();

/** Connections, so that arrivals keep their times while earlier commits wait for the disk. */
const POOL = 16;

async function main(o: WriterOptions): Promise<void> {
  const pool = new pg.Pool({ connectionString: o.url, max: POOL });
  pool.on("error", () => {});
  // Open the connections before the first arrival: connecting is not part of a commit.
  const warm = await Promise.all(Array.from({ length: POOL }, () => pool.connect()));
  for (const c of warm) c.release();
  const records: WriterRecord[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const send = async (seq: number, due: number) => {
    const client = await pool.connect();
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const began = wallMs();
      await client.query("BEGIN");
      const { rows } = await client.query(
        `INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body, headers)
         VALUES ($1, $2, $3, $4, $5) RETURNING id`,
        [
          "Bench <bench@ferry.test>",
          [`u${seq}@d${seq % o.domains}.test`],
          `Latency ${seq}`,
          o.body,
          JSON.stringify({ "X-Bench-Seq": String(seq) }),
        ],
      );
      await client.query("COMMIT");
      const committed = wallMs();
      records.push({ seq, outboxId: Number(rows[0].id), due, began, committed });
    } finally {
      inFlight--;
      client.release();
    }
  };
  const start = wallMs() + 200;
  const pending: Promise<void>[] = [];
  for (let seq = 0; seq < o.count; seq++) {
    const due = start + (seq * 1000) / o.rate;
    const wait = due - wallMs();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(send(seq, due));
  }
  await Promise.all(pending);
  await pool.end();
  records.sort((a, b) => a.seq - b.seq);
  const result: WriterResult = { records, maxInFlight };
  await Deno.writeTextFile(o.out, JSON.stringify(result));
}

if (import.meta.main) {
  try {
    await main(JSON.parse(Deno.args[0] ?? "{}") as WriterOptions);
  } catch (err) {
    console.error(`Cannot write the latency benchmark's rows: ${err}`);
    Deno.exit(1);
  }
}

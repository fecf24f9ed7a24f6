/**
 * What the scale and memory benchmarks share: a backlog of one-recipient messages spread over
 * many domains, inserted before the relay starts, either as queued deliveries (outbox rows
 * already ingested, each with its delivery: what "N queued deliveries" means) or as outbox rows
 * only, which the relay ingests itself; a receiving SMTP server on 127.0.0.1 that counts what it
 * is offered; the relay's progress read from the database; and the resident memory of a process
 * tree.
 *
 * Every domain `dN.test` is its own destination: the relay is given one static route
 * (`*=127.0.0.1:port`), and MX rollup only groups domains whose route came from MX records
 * (relay/composition/relay.ts rollupKey), so 100,000 domains are 100,000 destinations, each
 * with its own actor, lease and state, as 100,000 domains with their own MX hosts would be.
 *
 * @module
 */
import { loadConfig } from "../../relay/config/config.ts";
import { sql } from "kysely";
import { SMTPServer } from "smtp-server";
import type { AddressInfo } from "node:net";
import type { Db } from "../../db/client.ts";

/**
 * Where the backlog is put: `"queued"`, as ingested outbox rows with their queued deliveries
 * (one statement per 100,000, what ingestion would write for these valid one-recipient rows);
 * `"outbox"`, as outbox rows the relay ingests itself (ingestion then sets the pace).
 */
export type BacklogStage = "queued" | "outbox";

export function backlogStage(value: string | undefined): BacklogStage {
  if (value === undefined || value === "queued" || value === "outbox") return value ?? "queued";
  throw new Error(
    `Cannot insert the backlog as the stage must be 'queued' or 'outbox': current value is ${value}`,
  );
}

/** Inserts `deliveries` one-recipient messages, `u<i>@d<i mod domains>.test`, due at once. */
export async function insertBacklog(
  db: Db,
  deliveries: number,
  domains: number,
  stage: BacklogStage = "outbox",
): Promise<void> {
  const at = new Date(Date.now() - 60_000);
  const step = 100_000;
  for (let from = 0; from < deliveries; from += step) {
    const to = Math.min(deliveries, from + step) - 1;
    await sql`
      INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body, send_at, created_at)
      SELECT 's@ferry.test', ARRAY['u' || g || '@d' || (g % ${domains}) || '.test'],
             'Backlog ' || g, 'A short body.', ${at}, ${at}
        FROM generate_series(${from}::int, ${to}::int) g`.execute(db);
    if (stage === "outbox") continue;
    // raw SQL: a benchmark fixture, ingestion's result for valid one-recipient rows in one go.
    await sql`
      WITH taken AS (
        UPDATE ferry.outbox SET ingested_at = ${at}, expires_at = ${new Date(
      at.getTime() + 5 * 86_400_000,
    )}
         WHERE ingested_at IS NULL
        RETURNING id, to_addresses[1] AS recipient, priority, expires_at
      )
      INSERT INTO ferry.deliveries (outbox_id, recipient, domain, status, next_attempt_at,
                                    priority, expires_at, smtputf8, created_at, updated_at)
      SELECT id, recipient, split_part(recipient, '@', 2), 'queued', ${at}, priority, expires_at,
             false, ${at}, ${at}
        FROM taken`.execute(db);
  }
}

/** The relay's progress, from the database. */
export interface Progress {
  /** Outbox rows ingested (have their deliveries). */
  readonly ingested: number;
  /** Delivery attempts made (SMTP transactions tried, summed over deliveries). */
  readonly attempts: number;
  /** Deliveries attempted at least once. */
  readonly attempted: number;
  /** Distinct domains with at least one attempted delivery. */
  readonly domainsAttempted: number;
  readonly delivered: number;
}

export async function progress(db: Db): Promise<Progress> {
  // raw SQL: a benchmark's aggregate over the whole table, read once a second.
  const { rows } = await sql<Progress>`
    SELECT (SELECT count(*)::int FROM ferry.outbox WHERE ingested_at IS NOT NULL) AS ingested,
           coalesce(sum(attempts), 0)::int AS attempts,
           count(*) FILTER (WHERE attempts > 0)::int AS attempted,
           count(DISTINCT domain) FILTER (WHERE attempts > 0)::int AS "domainsAttempted",
           count(*) FILTER (WHERE status = 'delivered')::int AS delivered
      FROM ferry.deliveries`.execute(db);
  return rows[0]!;
}

/** A receiver on 127.0.0.1 that counts recipients offered (and their domains). */
export interface CountingReceiver extends AsyncDisposable {
  readonly port: number;
  /** RCPT TO commands received. */
  readonly rcpts: () => number;
  /** Distinct recipient domains seen at RCPT TO. */
  readonly domains: () => number;
  /** Messages accepted after DATA. */
  readonly accepted: () => number;
  /** Most sessions open at once. */
  readonly peakSessions: () => number;
}

/**
 * `"defer"`: every RCPT TO is answered `451 4.7.1` (greylisting-like), so every delivery is
 * deferred; `"accept"`: everything is accepted (the body is read and dropped).
 */
export async function startReceiver(mode: "defer" | "accept"): Promise<CountingReceiver> {
  let rcpts = 0;
  let accepted = 0;
  let sessions = 0;
  let peakSessions = 0;
  const domains = new Set<string>();
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    maxClients: 20_000,
    onConnect(_session, callback) {
      sessions++;
      peakSessions = Math.max(peakSessions, sessions);
      callback();
    },
    onClose() {
      sessions--;
    },
    onRcptTo(address, _session, callback) {
      rcpts++;
      domains.add(address.address.slice(address.address.lastIndexOf("@") + 1));
      if (mode === "defer") {
        callback(Object.assign(new Error("4.7.1 Try again later"), { responseCode: 451 }));
      } else callback();
    },
    onData(stream, _session, callback) {
      stream.on("data", () => {});
      stream.on("end", () => {
        accepted++;
        callback();
      });
    },
  });
  server.on("error", () => {}); // resets from a relay that was stopped are expected
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return {
    port,
    rcpts: () => rcpts,
    domains: () => domains.size,
    accepted: () => accepted,
    peakSessions: () => peakSessions,
    [Symbol.asyncDispose]: close,
  };
}

/** Resident memory (bytes) of `root` and every live descendant, from /proc (Linux). */
export function treeRss(root: number): { total: number; processes: number } {
  const parents = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parents.set(Number(e.name), Number(fields[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  let total = 0;
  let processes = 0;
  const visit = (pid: number) => {
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      total += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
      processes++;
    } catch {
      return;
    }
    for (const [child, parent] of parents) if (parent === pid) visit(child);
  };
  visit(root);
  return { total, processes };
}

/** The 1, 5 and 15 minute load averages. */
export function loadAverage(): number[] {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
}

export const mb = (bytes: number) => Math.round(bytes / 1e6);

/** The `max_actors` figure: the knob's value, or the relay's default as its config says. */
export function maxActorsLabel(knob: string | undefined): number | string {
  if (knob) return Number(knob);
  return `default (${loadConfig({}, () => "{}", () => "bench").delivery.maxActors})`;
}

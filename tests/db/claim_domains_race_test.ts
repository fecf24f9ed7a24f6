/**
 * Two relay instances on one PostgreSQL, each with its own pool and instance id, racing
 * claimDomains() over a backlog of many messages (several recipients each, at several
 * destinations, three priorities, some due only later), round after round on a simulated clock:
 *
 * - no delivery is claimed twice (by either instance, or by two claims of one instance);
 * - a destination is served only by the instance holding its lease, and two instances never hold
 *   one destination's lease over overlapping times;
 * - every delivery that falls due is claimed exactly once, never before it is due, and nothing
 *   else is claimed.
 *
 * The instances behave like supervisors with MX rollup: they take and give up leases for whole
 * groups of destinations, stop a whole group when one member's lease is lost, sometimes skip a
 * renewal (a paused process) so leases run out and change hands, and their clocks disagree by up
 * to 0.9 s, so one may still claim under a lease the other has just taken after it ran out. Times are simulated; rounds run as fast as the database answers.
 *
 * queue_whole_message_test.ts has the small version (three domains, leases that never move).
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import type { Db } from "../../db/client.ts";
import { ingestOutbox } from "../../db/ingest.ts";
import { acquireLeases, domainLease, releaseLeases, renewLeases } from "../../db/leases.ts";
import { claimDomains, type ClaimedDelivery, recordOutcomes } from "../../db/queue.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

const t0 = new Date("2030-03-01T10:00:00Z").getTime();
/** Simulated time between rounds. */
const STEP_MS = 1_000;
/** How far apart the two instances' clocks may read within one round. */
const SKEW_MS = 450;
/** Short, so leases run out whenever an instance skips a renewal. */
const DOMAIN_TTL_MS = 1_100;
/** Long: claims are never reaped during the test, so "claimed once" is exact. */
const DELIVERY_LEASE_MS = 3_600_000;
const MAX_ROUNDS = 300;
/** A bound on the test's own running time (a hung or starved race fails instead of hanging). */
const MAX_WALL_MS = 120_000;

const GROUPS = 6;
const DOMAINS = Array.from({ length: 24 }, (_, i) => `d${String(i).padStart(2, "0")}.test`);
/** MX rollup: destinations whose MX hosts are the same, served together. */
const GROUP_OF = new Map(DOMAINS.map((d, i) => [d, i % GROUPS]));
const MEMBERS = Array.from(
  { length: GROUPS },
  (_, g) => DOMAINS.filter((_, i) => i % GROUPS === g),
);

/**
 * A small seeded generator (mulberry32). Each instance draws from its own, so what one decides
 * does not depend on when the other happens to run.
 */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p: number) => next() < p,
    pick<T>(xs: readonly T[], n: number): T[] {
      const pool = [...xs];
      const out: T[] = [];
      while (out.length < n && pool.length > 0) out.push(pool.splice(next() * pool.length, 1)[0]!);
      return out;
    },
  };
}
type Prng = ReturnType<typeof prng>;

interface Backlog {
  /** Every delivery that falls due during the race, with its due time. */
  readonly due: ReadonlyMap<number, number>;
  /** Deliveries due long after the race. */
  readonly later: ReadonlySet<number>;
  /** When the last of `due` falls due. */
  readonly lastDueAt: number;
}

/**
 * 500 messages due at once, 40 falling due a third of the way in, 20 due the next day: each to 1
 * to 3 destinations with 1 to 4 recipients at each, priorities 0 to 2.
 */
async function seedBacklog(db: Db, rand: Prng): Promise<Backlog> {
  const midRace = t0 + 20 * STEP_MS;
  const nextDay = t0 + 86_400_000;
  const plan = [
    ...Array.from({ length: 500 }, () => t0),
    ...Array.from({ length: 40 }, () => midRace),
    ...Array.from({ length: 20 }, () => nextDay),
  ];
  let recipients = 0;
  for (const [m, sendAt] of plan.entries()) {
    const to = rand.pick(DOMAINS, rand.int(1, 3)).flatMap((domain) =>
      Array.from({ length: rand.int(1, 4) }, (_, k) => `m${m}r${k}@${domain}`)
    );
    recipients += to.length;
    await insertOutbox(db, {
      to_addresses: to,
      priority: m % 3,
      created_at: new Date(t0),
      send_at: new Date(sendAt),
    });
  }
  while ((await ingestOutbox(db, { now: new Date(t0) })).rows > 0) { /* until all ingested */ }
  const rows = await db.selectFrom("ferry.deliveries")
    .select(["id", "status", "next_attempt_at"]).execute();
  assert.equal(rows.length, recipients, "one delivery per recipient");
  assert.ok(rows.every((r) => r.status === "queued"));
  const due = new Map<number, number>();
  const later = new Set<number>();
  for (const r of rows) {
    const at = new Date(r.next_attempt_at).getTime();
    if (at < nextDay) due.set(Number(r.id), at);
    else later.add(Number(r.id));
  }
  return { due, later, lastDueAt: midRace };
}

/** One claimDomains() call and what it returned. */
interface Claim {
  readonly owner: string;
  readonly call: number;
  readonly at: number;
  readonly requested: ReadonlySet<string>;
  readonly got: readonly ClaimedDelivery[];
}

/** A stretch of time during which `owner` held `domain`'s lease, as the database answered. */
interface Tenure {
  readonly owner: string;
  readonly domain: string;
  readonly from: number;
  readonly to: number;
}

interface Journal {
  readonly claims: Claim[];
  readonly tenures: Tenure[];
  readonly refused: { owner: string; ids: number[] }[];
  calls: number;
}

/**
 * One relay instance: a supervisor's lease work (renew, retire groups, take groups) and claims,
 * plus the outcomes of what it claimed, sent "in flight" for up to two rounds.
 */
class Instance {
  readonly #held = new Map<string, { from: number; expires: number }>();
  readonly #inFlight: { d: ClaimedDelivery; doneAt: number }[] = [];

  constructor(
    readonly owner: string,
    readonly db: Db,
    readonly rand: Prng,
    readonly journal: Journal,
    /** Claim without leases: every instance asks for every destination. */
    readonly leaseless = false,
  ) {}

  #end(domain: string, at: number): void {
    const h = this.#held.get(domain);
    if (!h) return;
    this.#held.delete(domain);
    this.journal.tenures.push({
      owner: this.owner,
      domain,
      from: h.from,
      to: Math.min(at, h.expires),
    });
  }

  #granted(domain: string, now: number): void {
    const h = this.#held.get(domain);
    // Our own lease, still running: the same tenure goes on. One that ran out (and that nobody
    // took meanwhile, or it would not be ours again) starts a new one.
    if (h && h.expires >= now) h.expires = now + DOMAIN_TTL_MS;
    else {
      if (h) this.#end(domain, h.expires);
      this.#held.set(domain, { from: now, expires: now + DOMAIN_TTL_MS });
    }
  }

  /**
   * One supervisor pass at `now` on this instance's clock. `roundStart` is no later than either
   * instance's clock this round: a lease given up now ends there, so that a lease the other
   * instance takes right after (by the database), with a clock a little behind, is not seen as
   * overlapping. This instance made its last claim for it in an earlier round.
   */
  async round(round: number, now: number, roundStart: number): Promise<void> {
    const { rand, db, owner } = this;
    if (!this.leaseless) {
      // Renew, unless "paused" this round.
      if (this.#held.size > 0 && rand.chance(0.75)) {
        const names = [...this.#held.keys()];
        const kept = new Set(
          await renewLeases(db, names.map(domainLease), {
            owner,
            now: new Date(now),
            ttlMs: DOMAIN_TTL_MS,
          }),
        );
        const lostGroups = new Set<number>();
        for (const d of names) {
          if (kept.has(domainLease(d))) this.#held.get(d)!.expires = now + DOMAIN_TTL_MS;
          else {
            this.#end(d, now);
            lostGroups.add(GROUP_OF.get(d)!);
          }
        }
        // A lost member stops its group's actor: the other members are given up too.
        for (const g of lostGroups) await this.#release(MEMBERS[g]!, roundStart);
      }
      // Idle actors retire and give their group's leases up.
      for (let g = 0; g < GROUPS; g++) {
        if (MEMBERS[g]!.some((d) => this.#held.has(d)) && rand.chance(0.1)) {
          await this.#release(MEMBERS[g]!, roundStart);
        }
      }
      // Discovery: ask for whole groups; the other instance may be asking for the same.
      const wanted = MEMBERS.filter(() => rand.chance(0.5)).flat();
      if (wanted.length > 0) {
        const granted = await acquireLeases(db, wanted.map(domainLease), {
          owner,
          now: new Date(now),
          ttlMs: DOMAIN_TTL_MS,
        });
        for (const name of granted) this.#granted(name.slice("domain:".length), now);
      }
    }
    // The supervisor's claim for every destination it believes it holds (some may have run out),
    // plus a few it does not hold: the database must refuse those. Concurrently, an actor pulls
    // more of its own destinations.
    const mine = this.leaseless ? DOMAINS : [...this.#held.keys()];
    const stray = this.leaseless ? [] : rand.pick(DOMAINS.filter((d) => !this.#held.has(d)), 2);
    const calls = [[...mine, ...stray].map((domain) => ({ domain, limit: rand.int(1, 2) }))];
    if (mine.length > 0 && rand.chance(0.6)) {
      calls.push(rand.pick(mine, rand.int(1, 4)).map((domain) => ({ domain, limit: 1 })));
    }
    const results = await Promise.all(calls.map(async (requests) => {
      const call = ++this.journal.calls;
      const got = await claimDomains(db, {
        requests,
        owner,
        ...(this.leaseless ? {} : { holder: owner }),
        now: new Date(now),
        leaseMs: DELIVERY_LEASE_MS,
      });
      return { owner, call, at: now, requested: new Set(requests.map((r) => r.domain)), got };
    }));
    for (const c of results) {
      this.journal.claims.push(c);
      for (const d of c.got) this.#inFlight.push({ d, doneAt: round + rand.int(0, 2) });
    }
    await this.#report((f) => f.doneAt <= round, now);
  }

  /** Gives leases up; their tenures end at `endsAt`. */
  async #release(domains: readonly string[], endsAt: number): Promise<void> {
    const held = domains.filter((d) => this.#held.has(d));
    if (held.length === 0) return;
    await releaseLeases(this.db, held.map(domainLease), this.owner);
    for (const d of held) this.#end(d, endsAt);
  }

  /** Records "delivered" for the claims whose SMTP transaction is over. */
  async #report(done: (f: { doneAt: number }) => boolean, now: number): Promise<void> {
    const finished = this.#inFlight.filter(done);
    if (finished.length === 0) return;
    this.#inFlight.splice(0, this.#inFlight.length, ...this.#inFlight.filter((f) => !done(f)));
    const r = await recordOutcomes(
      this.db,
      finished.map(({ d }) => ({
        id: d.id,
        leaseToken: d.leaseToken,
        status: "delivered" as const,
        attempted: true,
        code: 250,
        reply: "250 ok",
      })),
      { now: new Date(now), instance: this.owner },
    );
    if (r.refused.length > 0) this.journal.refused.push({ owner: this.owner, ids: r.refused });
  }

  /** Stops: reports what is in flight and gives every lease up. */
  async stop(now: number): Promise<void> {
    await this.#report(() => true, now);
    await this.#release([...this.#held.keys()], now);
  }
}

/**
 * Runs both instances round after round until every due delivery was claimed (or a bound was
 * hit), then stops them. Returns the journal and how many rounds ran.
 */
async function race(
  dbs: readonly [Db, Db],
  backlog: Backlog,
  o: { leaseless: boolean; seed: number },
): Promise<Journal & { rounds: number }> {
  const journal: Journal = { claims: [], tenures: [], refused: [], calls: 0 };
  const instances = dbs.map((db, i) =>
    new Instance(`i${i + 1}`, db, prng(o.seed + i), journal, o.leaseless)
  );
  const skew = prng(o.seed + 100);
  const claimed = new Set<number>();
  const started = performance.now();
  let round = 0;
  for (; round < MAX_ROUNDS; round++) {
    const base = t0 + round * STEP_MS;
    const before = journal.claims.length;
    await Promise.all(
      instances.map((inst) =>
        inst.round(round, base + skew.int(-SKEW_MS, SKEW_MS), base - SKEW_MS)
      ),
    );
    for (const c of journal.claims.slice(before)) for (const d of c.got) claimed.add(d.id);
    if (claimed.size >= backlog.due.size && base >= backlog.lastDueAt) break;
    if (performance.now() - started > MAX_WALL_MS) break;
  }
  const end = t0 + (round + 1) * STEP_MS;
  for (const inst of instances) await inst.stop(end);
  return { ...journal, rounds: round + 1 };
}

/** The checks both races share: nothing claimed twice, everything due claimed, nothing else. */
async function assertClaimedExactlyOnce(db: Db, j: Journal, backlog: Backlog): Promise<void> {
  const owners = new Map<number, string[]>();
  for (const c of j.claims) {
    for (const d of c.got) owners.set(d.id, [...(owners.get(d.id) ?? []), `${c.owner}#${c.call}`]);
  }
  const twice = [...owners].filter(([, by]) => by.length > 1);
  assert.deepEqual(twice, [], "no delivery claimed twice (id, claims that took it)");

  // One fencing token per claim statement, never reused by another.
  const tokenOf = new Map<number, number>();
  for (const c of j.claims) {
    const tokens = new Set(c.got.map((d) => d.leaseToken));
    assert.ok(tokens.size <= 1, `claim ${c.call} carries one token`);
    for (const t of tokens) {
      assert.equal(tokenOf.get(t) ?? c.call, c.call, `token ${t} belongs to one claim`);
      tokenOf.set(t, c.call);
    }
  }

  for (const c of j.claims) {
    for (const d of c.got) {
      assert.ok(c.requested.has(d.domain), `${d.id} (${d.domain}) was asked for`);
      const dueAt = backlog.due.get(d.id);
      assert.ok(dueAt !== undefined, `${d.id} is not due during the race, yet was claimed`);
      assert.ok(dueAt <= c.at, `${d.id} claimed at ${c.at - t0}, before due at ${dueAt - t0}`);
    }
  }
  const missing = [...backlog.due.keys()].filter((id) => !owners.has(id));
  assert.deepEqual(missing, [], "every due delivery claimed");
  assert.deepEqual(j.refused, [], "every outcome written under its claim's token");

  const byStatus = await sql<{ status: string; n: number }>`
    SELECT status, count(*)::int AS n FROM ferry.deliveries GROUP BY status ORDER BY status`
    .execute(db);
  assert.deepEqual(
    Object.fromEntries(byStatus.rows.map((r) => [r.status, r.n])),
    { delivered: backlog.due.size, queued: backlog.later.size },
  );
}

Deno.test({
  name:
    "claimDomains() from two instances over moving leases: never claims twice, never serves a destination from both, claims every due delivery once",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const backlog = await seedBacklog(t.db, prng(1));
    const other = await t.reopen();
    const j = await race([t.db, other.db], backlog, { leaseless: false, seed: 7 });

    await assertClaimedExactlyOnce(t.db, j, backlog);

    // Lease tenures, as the database granted, renewed and took them: on one destination, two
    // instances' tenures never overlap (each instance's times are its own clock's: the lease's).
    const tenures = new Map<string, Tenure[]>();
    for (const x of j.tenures) tenures.set(x.domain, [...(tenures.get(x.domain) ?? []), x]);
    for (const [domain, list] of tenures) {
      for (const a of list) {
        for (const b of list) {
          if (a.owner === b.owner) continue;
          assert.ok(
            a.to <= b.from || b.to <= a.from,
            `${domain} leased by ${a.owner} [${a.from - t0}, ${a.to - t0}) and by ${b.owner} ` +
              `[${b.from - t0}, ${b.to - t0}) at once`,
          );
        }
      }
    }
    // Every claim fell inside a tenure of its claimant on that destination, so no destination was
    // served by both instances at the same time.
    for (const c of j.claims) {
      for (const d of c.got) {
        const inside = (tenures.get(d.domain) ?? []).some((x) =>
          x.owner === c.owner && x.from <= c.at && c.at < x.to
        );
        assert.ok(
          inside,
          `${c.owner} claimed ${d.id} at ${d.domain} at ${c.at - t0} without its lease`,
        );
      }
    }

    // The race must have raced: both instances claimed, leases changed hands many times, and
    // most destinations were served by one instance, then the other.
    const claimers = new Set(j.claims.filter((c) => c.got.length > 0).map((c) => c.owner));
    assert.deepEqual([...claimers].sort(), ["i1", "i2"], "both instances claimed");
    let switches = 0;
    for (const list of tenures.values()) {
      const sorted = [...list].sort((a, b) => a.from - b.from);
      for (const [i, x] of sorted.entries()) {
        if (i > 0 && x.owner !== sorted[i - 1]!.owner) switches++;
      }
    }
    assert.ok(switches >= 2 * DOMAINS.length, `leases that changed hands: ${switches}`);
    const servedBy = new Map<string, Set<string>>();
    for (const c of j.claims) {
      for (const d of c.got) {
        servedBy.set(d.domain, (servedBy.get(d.domain) ?? new Set()).add(c.owner));
      }
    }
    const handedOver = [...servedBy.values()].filter((s) => s.size > 1).length;
    assert.ok(
      handedOver >= DOMAINS.length / 2,
      `destinations served by both in turn: ${handedOver}`,
    );
    assert.ok(j.rounds > 25, `rounds: ${j.rounds}`);
  },
});

Deno.test({
  name:
    "claimDomains() from two instances asking for every destination at once never claims a delivery twice and misses none",
  ignore: serverOnly,
  async fn() {
    // No leases: every claim competes for the same rows, so only the row locks keep the
    // instances (and two claims of one instance) apart.
    await using t = await testDatabase();
    const backlog = await seedBacklog(t.db, prng(2));
    const other = await t.reopen();
    const j = await race([t.db, other.db], backlog, { leaseless: true, seed: 11 });
    await assertClaimedExactlyOnce(t.db, j, backlog);
    const claimers = new Set(j.claims.filter((c) => c.got.length > 0).map((c) => c.owner));
    assert.deepEqual([...claimers].sort(), ["i1", "i2"], "both instances claimed");
  },
});

Deno.test({
  name: "claimDomains() skips rows another instance's claim has locked instead of waiting for them",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const at = new Date(t0);
    const first = await insertOutbox(t.db, {
      to_addresses: ["a@d.test", "b@d.test", "c@d.test"],
      created_at: at,
      send_at: at,
    });
    await insertOutbox(t.db, {
      to_addresses: ["x@d.test", "y@d.test"],
      created_at: at,
      send_at: at,
    });
    await ingestOutbox(t.db, { now: at });
    const other = await t.reopen();
    const claim = () =>
      claimDomains(other.db, {
        requests: [{ domain: "d.test", limit: 10 }],
        owner: "i2",
        now: at,
        leaseMs: DELIVERY_LEASE_MS,
      });

    // A claim of i1 in the middle of its statement: it holds the first message's rows locked.
    const { blocked, pending, lockedIds } = await t.db.transaction().execute(async (tx) => {
      const locked = await sql<{ id: number }>`
        SELECT id FROM ferry.deliveries WHERE outbox_id = ${first} ORDER BY id FOR UPDATE`
        .execute(tx);
      const pending = claim();
      let settled = false;
      pending.then(() => (settled = true), () => (settled = true));
      // Watch, from a third connection, for i2's claim waiting on a lock, until it answers.
      let blocked = false;
      for (let i = 0; i < 20_000 && !settled && !blocked; i++) {
        const { rows } = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(t.db);
        blocked = rows[0]!.n > 0;
      }
      assert.ok(settled || blocked, "the claim neither answered nor waited");
      // Ending the transaction (whatever happened) lets a waiting claim go on.
      return { blocked, pending, lockedIds: locked.rows.map((r) => Number(r.id)) };
    });
    const got = await pending;
    assert.equal(blocked, false, "the claim waited for another claim's row locks");
    assert.equal(lockedIds.length, 3);
    assert.deepEqual(got.map((d) => d.recipient).sort(), ["x@d.test", "y@d.test"]);
    // Once the other claim is gone without taking them, the rows it held are claimable.
    assert.deepEqual((await claim()).map((d) => d.id).sort((a, b) => a - b), lockedIds);
  },
});

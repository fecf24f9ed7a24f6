/**
 * Per-sender limits: a rate budget and a cap on concurrent transactions for each configured
 * sender (a sender domain, or `tenant:<name>`), shared by every domain actor of the process and,
 * through the {@link SenderBudgetStore}, by every instance on the same database. One noisy
 * application then cannot spend the whole relay's reputation, whichever destinations its mail
 * goes to.
 *
 * ## Shared GCRA, reserved in ranges
 *
 * Each rate of a sender keeps one theoretical arrival time (TAT) in the store, as the destination
 * budgets do (actors/rate_budget.ts). An instance does not ask the store for every message: it
 * reserves a range of the rate's timeline at once (`cells` emission intervals, one statement
 * that advances the TAT and returns the range), and spends it locally, synchronously, as the
 * actors ask. A cell spent at time `u` occupies `[max(next, u), +interval)` of a range this
 * instance owns, and ranges are disjoint across instances (the store hands each out once), so
 * the cells all instances send together are spaced as one GCRA would space them: the window
 * promise of the destination budgets ("at most count + burst - 1 in any window of the period")
 * holds for the sender across all instances. The price (the slack) is on the other side: a range
 * an instance reserved and did not spend in time is lost, so a sender whose mail is spread
 * thinly over many instances may get somewhat less than its rate; never more.
 *
 * ## Waiting, not failing
 *
 * {@link SenderBudgets.take} answers at once from the local range. When the range is spent it
 * starts one reservation (at most one per sender at a time) and says to ask again later; when
 * the reservation lands, or a transaction slot frees, every listener ({@link onChange}) hears of
 * it, so waiting actors wake without polling. Nothing here defers mail or counts an attempt.
 *
 * Times are epoch milliseconds supplied by the caller; the only I/O is the store.
 *
 * @module
 */
import type { Rate } from "./rate_budget.ts";
import type { SenderSnapshot } from "./snapshots.ts";

export type { SenderSnapshot } from "./snapshots.ts";

/** One sender's configured limits. */
export interface SenderLimit {
  /** Rates enforced together (empty: no rate limit). */
  readonly rates: readonly Rate[];
  /** The rates as configured, shown to operators (default `rates`; the relay widens those). */
  readonly configured?: readonly Rate[];
  /** Most transactions of this sender in flight at once in this instance (absent: no cap). */
  readonly maxConnections?: number;
}

/** One rate's reserved range of the shared timeline: `[start, end)` in epoch ms. */
export interface ReservedRange {
  readonly start: number;
  readonly end: number;
}

/** Where the shared TATs live (PostgreSQL in the relay: relay/adapters/sender_budget_store.ts). */
export interface SenderBudgetStore {
  /**
   * Reserves `cells` emission intervals of each of `key`'s rates in one step: for each rate the
   * range `[max(tat, now), +cells * interval)`, advancing its TAT to the range's end. Returns one
   * range per rate, in order.
   */
  reserve(
    key: string,
    rates: readonly Rate[],
    cells: number,
    now: number,
  ): Promise<readonly ReservedRange[]>;
}

export type SenderTake =
  | { readonly ok: true; readonly n: number }
  /**
   * `retryAt`: when to ask again at the latest (a listener hears earlier if a reservation lands
   * or a slot frees); `spacingMs`: the sender's tightest spacing, to spread what waits.
   */
  | {
    readonly ok: false;
    readonly retryAt: number;
    readonly spacingMs: number;
    readonly reason: "rate" | "connections";
  };

export interface SenderBudgetOptions {
  /** How much of the timeline one reservation covers (cells = this / the widest spacing). */
  readonly reserveMs?: number;
  /** Most cells one reservation takes. */
  readonly maxCells?: number;
  /** When a reservation is pending or failed: ask again after at most this long. */
  readonly retryMs?: number;
  /** Told each time a sender's mail is held back (metrics). */
  readonly onWait?: (key: string, reason: "rate" | "connections") => void;
}

const EPSILON = 1e-6;

/** The spacing a refusal for want of a transaction slot reports (see {@link SenderBudgets.take}). */
export const CONNECTION_SPACING_MS = 100;

interface LocalRate {
  readonly interval: number;
  readonly burst: number;
  /** Where the next cell may start in the owned range. */
  next: number;
  /** End of the owned range (-Infinity: none yet). */
  end: number;
}

interface Sender {
  readonly limit: SenderLimit;
  readonly rates: LocalRate[];
  inFlight: number;
  reserving: boolean;
  /** No reservation before this (after a failed one). */
  retryAt: number;
  waits: number;
}

export class SenderBudgets {
  readonly #senders = new Map<string, Sender>();
  readonly #listeners = new Set<() => void>();
  readonly #store: SenderBudgetStore;
  readonly #reserveMs: number;
  readonly #maxCells: number;
  readonly #retryMs: number;
  readonly #onWait: ((key: string, reason: "rate" | "connections") => void) | undefined;

  constructor(
    limits: Readonly<Record<string, SenderLimit>>,
    store: SenderBudgetStore,
    options: SenderBudgetOptions = {},
  ) {
    this.#store = store;
    this.#reserveMs = options.reserveMs ?? 500;
    this.#maxCells = options.maxCells ?? 50;
    this.#retryMs = options.retryMs ?? 1_000;
    this.#onWait = options.onWait;
    for (const [key, limit] of Object.entries(limits)) {
      this.#senders.set(key, {
        limit,
        rates: limit.rates.map((r) => ({
          interval: r.perMs / r.count,
          burst: r.burst ?? 1,
          next: -Infinity,
          end: -Infinity,
        })),
        inFlight: 0,
        reserving: false,
        retryAt: -Infinity,
        waits: 0,
      });
    }
  }

  /** Whether `key` has limits (a delivery of any other sender is not limited). */
  has(key: string): boolean {
    return this.#senders.has(key);
  }

  /**
   * Takes up to `n` cells of `key`'s budget at `now` and one transaction slot: how many (at
   * least 1), or when to ask again. An unknown key takes `n` at once.
   */
  take(key: string, now: number, n: number): SenderTake {
    const s = this.#senders.get(key);
    if (!s) return { ok: true, n };
    const spacingMs = Math.max(0, ...s.rates.map((r) => r.interval));
    const max = s.limit.maxConnections;
    if (max !== undefined && s.inFlight >= max) {
      s.waits++;
      this.#onWait?.(key, "connections");
      // A slot frees when a transaction ends, which no rate tells: what waits for one is spread
      // as if a transaction took CONNECTION_SPACING_MS, so it does not all come back at once.
      const spacing = Math.max(spacingMs, CONNECTION_SPACING_MS);
      return { ok: false, retryAt: now + this.#retryMs, spacingMs: spacing, reason: "connections" };
    }
    const room = Math.min(n, ...s.rates.map((r) => roomIn(r, now)));
    if (room >= 1) {
      for (const r of s.rates) r.next = Math.max(r.next, now) + room * r.interval;
      s.inFlight++;
      return { ok: true, n: room };
    }
    s.waits++;
    this.#onWait?.(key, "rate");
    // Owned but not yet due: wait for it. Otherwise the range is spent: reserve more.
    const due = Math.max(now, ...s.rates.map((r) => dueAt(r, now)));
    if (due < Infinity) return { ok: false, retryAt: due, spacingMs, reason: "rate" };
    this.#reserve(key, s, now);
    return { ok: false, retryAt: now + this.#retryMs, spacingMs, reason: "rate" };
  }

  /** Gives back `n` cells just taken at `now` (nothing else was taken since) and the slot. */
  untake(key: string, n: number): void {
    const s = this.#senders.get(key);
    if (!s) return;
    for (const r of s.rates) r.next -= n * r.interval;
    this.#done(s);
  }

  /** A transaction of `key` ended: its slot frees. */
  done(key: string): void {
    const s = this.#senders.get(key);
    if (s) this.#done(s);
  }

  /** Calls `listener` whenever waiting may be over; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  snapshot(now: number): SenderSnapshot[] {
    return [...this.#senders].map(([key, s]) => {
      const available = Math.max(0, Math.min(...s.rates.map((r) => roomIn(r, now)), 1_000));
      const due = Math.max(now, ...s.rates.map((r) => dueAt(r, now)));
      return {
        key,
        rates: (s.limit.configured ?? s.limit.rates).map((r) => ({
          count: r.count,
          perMs: r.perMs,
          burst: r.burst ?? 1,
        })),
        maxConnections: s.limit.maxConnections ?? null,
        inFlight: s.inFlight,
        available: s.rates.length === 0 ? 1_000 : available,
        nextFreeAt: Number.isFinite(due) ? Math.ceil(due - EPSILON) : null,
        waits: s.waits,
      };
    });
  }

  #done(s: Sender): void {
    if (s.inFlight > 0) s.inFlight--;
    if (s.limit.maxConnections !== undefined) this.#changed();
  }

  #reserve(key: string, s: Sender, now: number): void {
    if (s.reserving || now < s.retryAt) return;
    s.reserving = true;
    const widest = Math.max(...s.rates.map((r) => r.interval));
    const burst = Math.max(...s.rates.map((r) => r.burst));
    const cells = Math.max(burst, Math.min(this.#maxCells, Math.floor(this.#reserveMs / widest)));
    this.#store.reserve(key, s.limit.rates, cells, now).then((ranges) => {
      ranges.forEach((range, i) => {
        const r = s.rates[i];
        if (!r) return;
        // A range that continues ours extends it; a later one replaces what is left of ours.
        if (range.start > r.end + EPSILON) r.next = range.start;
        r.end = range.end;
      });
    }, () => {
      s.retryAt = now + this.#retryMs;
    }).finally(() => {
      s.reserving = false;
      this.#changed();
    });
  }

  #changed(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/**
 * Cells this rate lets through at `now`: GCRA conformance (at most `burst` back to back, fewer
 * while earlier cells are still ahead of `now`) within what is left of the owned range.
 */
function roomIn(r: LocalRate, now: number): number {
  const from = Math.max(r.next, now);
  const conform = r.burst - (from - now) / r.interval;
  const owned = (r.end - from) / r.interval;
  return Math.max(0, Math.floor(Math.min(conform, owned) + EPSILON));
}

/** When this rate lets the next cell through; Infinity when the owned range is spent. */
function dueAt(r: LocalRate, now: number): number {
  const at = Math.max(now, r.next - (r.burst - 1) * r.interval);
  if (Math.max(r.next, at) + r.interval > r.end + EPSILON) return Infinity;
  return at;
}

/**
 * The supervisor: finds destinations with due work, takes their leases (one instance per
 * destination across all instances), creates a domain actor per destination on demand, and feeds
 * each actor only as many deliveries as it can start soon (its `demand`): a throttled, suspended
 * or unreachable destination leaves its rows queued in PostgreSQL instead of sitting on leases.
 *
 * MX rollup (KumoMTA's term): destinations whose mail goes to the same MX hosts share one actor,
 * so their connections and rates are counted together, as the receiving hosts see them. The
 * `destinationOf` port maps a domain to its group key; leases and claims stay per domain.
 *
 * It restarts an actor that crashed (after a growing pause, its unsent claims handed back at
 * once), stops actors that went idle (so memory stays flat however many destinations there are),
 * and on stop drains: no new transactions, in-flight ones get `drainMs` to finish, everything
 * else goes back to the queue.
 *
 * An actor slot belongs to a destination only while it has something to do: `maxActors` bounds
 * memory, never progress. An actor with nothing queued or in flight is "cold" when its
 * destination has nothing due (its last claim came back empty) or it may not send now
 * (deferred, throttled, unreachable: no demand). A cold actor with no open connection stops at
 * once; one that still holds an idle connection keeps it for the next message (a warm
 * connection is what an actor is worth between messages) until a destination with due work
 * finds no free slot: then the cold actors that were quiet longest stop, in one batch, and the
 * waiting destinations start in the same pass. Like Postfix's queue manager, which tries every
 * destination whose mail is due instead of waiting for deferred ones. What a stopped actor
 * learnt stays: its state is saved before its lease goes back, and its rows wait in the
 * database until they are due, when discovery finds them again.
 *
 * With a `states` store, a destination's limits (rate budgets, adaptive rate and concurrency)
 * outlive its actor: a new actor starts from the state saved for its destination, the states
 * that changed are saved in one batch every `stateFlushMs`, and an actor's state is saved once
 * more when it stops (idle, crashed, shutdown) before its leases go back, so the next holder,
 * here or on another instance, continues where it stopped. Never per message: sending at
 * thousands of messages a second costs one statement a second. An actor whose lease was lost
 * saves nothing: another instance serves the destination, and the store refuses such a write
 * anyway.
 *
 * @module
 */
import type {
  ActorMetrics,
  Clock,
  Delivery,
  DestinationState,
  DestinationStateStore,
  DestinationStateWrite,
  Logger,
  Queue,
  StoreHealth,
} from "./ports.ts";
import type { ActorDescription, DomainActorSnapshot, SupervisorSnapshot } from "./snapshots.ts";

export type { ActorDescription, SupervisorSnapshot } from "./snapshots.ts";

/**
 * The reason every wait of this module is cut short with: `abort()` without one allocates a new
 * DOMException (with a stack trace) each time, and waits end thousands of times a second.
 */
const WOKEN = new DOMException("The wait was cut short", "AbortError");

/** What the supervisor needs of a domain actor. */
export interface Actor {
  readonly domain: string;
  /** How many more deliveries it wants now (0 when throttled, suspended or unreachable). */
  demand(now: number): number;
  /** Hands work over; returns what did not fit (the supervisor releases it). */
  offer(deliveries: readonly Delivery[]): Delivery[];
  /** True when nothing is queued or in flight. */
  idle(): boolean;
  /** Removes and returns everything queued and not yet started (of one member domain). */
  drain(domain?: string): Delivery[];
  /** Live state for operators (admin API). */
  snapshot?(now: number): DomainActorSnapshot;
  /** The destination's limits as they stand, to save (absent: nothing worth keeping). */
  saveState?(): DestinationState | undefined;
  /**
   * True when nothing is queued or in flight, open idle connections allowed (default: idle()):
   * stopping it now loses no work, only warm connections.
   */
  quiet?(): boolean;
  /** Runs until `stop` aborts and in-flight work ends; `kill` aborts in-flight work. */
  run(stop: AbortSignal, kill: AbortSignal): Promise<void>;
}

export interface SupervisorOptions {
  /** Most actors (destinations) this instance runs at once. */
  readonly maxActors: number;
  /** Destinations looked at per discovery pass. */
  readonly discoverBatch: number;
  /** Destination lease time-to-live; renewed every third of it. */
  readonly domainLeaseMs: number;
  /** An actor with nothing to do for this long is stopped. */
  readonly actorIdleMs: number;
  /** Adaptive tick: shortest and longest wait between passes. */
  readonly tickMinMs: number;
  readonly tickMaxMs: number;
  /** On stop, how long in-flight transactions may take. */
  readonly drainMs: number;
  /** First restart pause after a crash; doubles per crash, capped at 64×. */
  readonly restartBackoffMs: number;
  /** How often the destinations' limits that changed are saved (with a `states` store). */
  readonly stateFlushMs: number;
}

export const DEFAULT_SUPERVISOR_OPTIONS: SupervisorOptions = {
  maxActors: 500,
  discoverBatch: 500,
  domainLeaseMs: 15_000,
  actorIdleMs: 30_000,
  tickMinMs: 5,
  tickMaxMs: 100,
  drainMs: 30_000,
  restartBackoffMs: 1_000,
  stateFlushMs: 1_000,
};

interface Running {
  readonly key: string;
  /** Member domains whose leases this instance holds. */
  readonly domains: Set<string>;
  /** Rotates which member is claimed for first. */
  turn: number;
  readonly actor: Actor;
  readonly stop: AbortController;
  readonly kill: AbortController;
  readonly done: Promise<void>;
  idleSince: number | undefined;
  /** When it last had nothing queued or in flight (since then), for the order cold actors stop. */
  quietSince: number | undefined;
  /** Its last claim asked for work and got none: nothing of its destination is due. */
  dry: boolean;
  /** The member the actor started for: its lease fences the saves of the actor's state. */
  readonly lead: string;
  /** The state last saved (JSON), so an unchanged one is not written again. */
  saved: string | undefined;
}

export interface SupervisorDeps {
  readonly queue: Queue;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Creates the actor of a destination. `key` names it (a domain, or an MX group); `domain` is
   * the first member, whose policy and route it uses; `restored`, the state saved for `key`.
   */
  readonly createActor: (key: string, domain: string, restored?: DestinationState) => Actor;
  /** Where destinations' limits are kept across actors, restarts and instances (optional). */
  readonly states?: DestinationStateStore;
  /** The destination (actor key) of a domain; default: the domain itself (no rollup). */
  readonly destinationOf?: (domain: string) => Promise<string>;
  readonly options?: Partial<SupervisorOptions>;
  /** Told the number of live actors whenever it changes. */
  readonly metrics?: Pick<ActorMetrics, "setActors">;
  /** While the store is away no pass runs: no claims, no lease renewals, no log line per tick. */
  readonly store?: StoreHealth;
}

export class Supervisor {
  readonly options: SupervisorOptions;
  readonly #deps: SupervisorDeps;
  /** Actors by destination key. */
  readonly #running = new Map<string, Running>();
  /** Held domains and the key of the actor serving each. */
  readonly #domainKey = new Map<string, string>();
  readonly #crashes = new Map<string, { crashes: number; restartAt: number }>();
  /** Stops of actors with no work under way: their domains, and the stops themselves. */
  readonly #stopping = new Set<Promise<void>>();
  readonly #releasing = new Set<string>();
  #stoppingActors = 0;
  #cursor = "";
  #nextRenew = 0;
  #nextFlush = 0;
  #wake: AbortController | undefined;
  /** Woken while a pass ran: the work it announced may have come after that pass's claim. */
  #woken = false;
  /** Draining: claims made outside a pass (on ingest) go straight back. */
  #draining = false;

  constructor(deps: SupervisorDeps) {
    this.#deps = deps;
    this.options = { ...DEFAULT_SUPERVISOR_OPTIONS, ...deps.options };
  }

  /** The actor serving a domain, if one runs (admin API, operator commands). */
  actor(domain: string): Actor | undefined {
    const key = this.#domainKey.get(domain) ?? domain;
    return this.#running.get(key)?.actor;
  }

  /** Domains served by the actor `key`. */
  membersOf(key: string): string[] {
    return [...(this.#running.get(key)?.domains ?? [])].sort();
  }

  actors(): Actor[] {
    return [...this.#running.values()].map((r) => r.actor);
  }

  /** Every running actor's live state, with the domains it serves. */
  describe(now: number): ActorDescription[] {
    return [...this.#running.values()].map((r) => ({
      key: r.key,
      domains: [...r.domains].sort(),
      state: r.actor.snapshot?.(now),
    }));
  }

  /**
   * Hands a domain's queued, not yet started work back to the queue, due at `at` (operator
   * suspend: the suspension itself lives in the database, where claims skip it).
   */
  async handBack(domain: string, at: number): Promise<number> {
    const actor = this.actor(domain);
    if (!actor) return 0;
    const queued = actor.drain(domain);
    if (queued.length > 0) await this.#deps.queue.release(queued, at, this.#deps.clock.now());
    return queued.length;
  }

  snapshot(): SupervisorSnapshot {
    return {
      actors: this.#running.size,
      domains: [...this.#domainKey.keys()].sort(),
      crashed: [...this.#crashes].map(([domain, c]) => ({ domain, ...c })),
    };
  }

  /**
   * Cuts the current wait short (new work, an actor asking for more); woken while a pass runs,
   * the next pass starts as soon as it ends.
   */
  wake(): void {
    if (this.#wake) this.#wake.abort(WOKEN);
    else this.#woken = true;
  }

  /**
   * Of `domains` (those with new work), the ones this instance holds whose actor has room, and how
   * many each may take: what ingestion claims in its own transaction (claim on ingest).
   */
  requestsFor(domains: readonly string[], now: number): { domain: string; limit: number }[] {
    if (this.#draining) return [];
    const asked = new Map<string, string[]>();
    for (const domain of domains) {
      const key = this.#domainKey.get(domain);
      if (key === undefined) continue;
      const list = asked.get(key);
      if (list) list.push(domain);
      else asked.set(key, [domain]);
    }
    const requests: { domain: string; limit: number }[] = [];
    for (const [key, members] of asked) {
      const want = this.#running.get(key)?.actor.demand(now) ?? 0;
      // Each member asked gets a share, rounded up: a surplus is handed back by accept().
      const share = Math.ceil(want / members.length);
      if (share > 0) { for (const domain of members) requests.push({ domain, limit: share }); }
    }
    return requests;
  }

  /**
   * Hands deliveries claimed outside a pass (claim on ingest) to their actors at once; what no
   * actor takes (it stopped meanwhile, or has no room left) goes back to the queue.
   */
  async accept(claimed: readonly Delivery[], now: number): Promise<void> {
    if (claimed.length === 0) return;
    // An actor that has been drained already would hold them until their lease ends.
    if (this.#draining) await this.#deps.queue.release(claimed, now, now);
    else await this.#hand(claimed, now);
  }

  /** Runs passes until `signal` aborts, then drains. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock } = this.#deps;
    let idlePasses = 0;
    while (!signal.aborted) {
      let moved = 0;
      this.#woken = false;
      try {
        if (this.#deps.store?.up !== false) moved = await this.pass(clock.now());
      } catch (err) {
        if (!this.#deps.store?.failed(err)) {
          this.#deps.logger.log({ event: "loop.failed", loop: "supervisor", error: message(err) });
        }
      }
      idlePasses = moved > 0 || this.#woken ? 0 : idlePasses + 1;
      const wait = idlePasses === 0 ? 0 : Math.min(
        this.options.tickMaxMs,
        this.options.tickMinMs * 2 ** Math.min(idlePasses - 1, 20),
      );
      if (wait > 0) await this.#sleep(wait, signal);
    }
    await this.drain();
  }

  /** One pass: renew leases, discover destinations, feed actors, retire idle ones. */
  async pass(now: number): Promise<number> {
    if (now >= this.#nextRenew) {
      await this.#renew(now);
      this.#nextRenew = now + this.options.domainLeaseMs / 3;
    }
    await this.#discover(now);
    const moved = await this.#feed(now);
    this.#retire(now);
    if (now >= this.#nextFlush) {
      await this.#save([...this.#running.values()], now);
      this.#nextFlush = now + this.options.stateFlushMs;
    }
    return moved;
  }

  async #renew(now: number): Promise<void> {
    const held = [...this.#domainKey.keys()];
    if (held.length === 0) return;
    const kept = new Set(await this.#deps.queue.renewDomains(held, now));
    for (const domain of held) {
      if (kept.has(domain)) continue;
      // Another instance may own it now: stop sending for it at once. The actor may hold this
      // domain's work mixed with its group's, so the whole actor stops; the other members are
      // picked up again by the next discovery.
      this.#deps.logger.log({ event: "domain.lost", domain });
      const key = this.#domainKey.get(domain);
      if (key !== undefined) await this.#stopActor(key, "lease lost", domain);
    }
  }

  async #discover(now: number): Promise<void> {
    // Slots free once the actors being stopped are gone, and slots free now.
    const free = this.options.maxActors - this.#running.size;
    const room = free - this.#stoppingActors;
    // With every slot taken, look only when a cold actor could make room, and not while a
    // batch of slots is already on its way back.
    if (room <= 0 && this.#stoppingActors >= this.options.discoverBatch) return;
    const cold = room > 0 ? [] : this.#cold(now);
    if (room + cold.length <= 0) return;
    const { domains, cursor } = await this.#deps.queue.readyDomains({
      cursor: this.#cursor,
      limit: this.options.discoverBatch,
      now,
    });
    const ready = domains.filter((d) =>
      !this.#domainKey.has(d) && !this.#releasing.has(d) &&
      (this.#crashes.get(d)?.restartAt ?? 0) <= now
    );
    if (ready.length > free && cold.length > 0) {
      const yielding = cold.slice(0, ready.length - free);
      this.#stopMany(yielding, "nothing due");
      // Their connections are still closing: room comes back once they are gone.
    }
    const wanted = ready.slice(0, Math.max(0, room));
    // Destinations that did not fit come first in the next pass, not after a whole round.
    this.#cursor = wanted.length < ready.length ? (wanted.at(-1) ?? this.#cursor) : cursor;
    if (wanted.length === 0) return;
    const granted = await this.#deps.queue.acquireDomains(wanted, now);
    const keys = await Promise.all(granted.map((d) => this.#destinationOf(d)));
    const restored = await this.#load(keys, granted);
    for (const [i, domain] of granted.entries()) {
      this.#attach(domain, keys[i]!, restored.get(keys[i]!));
    }
  }

  /** The saved states of the destinations among `keys` that get a new actor. */
  async #load(
    keys: readonly string[],
    granted: readonly string[],
  ): Promise<ReadonlyMap<string, DestinationState>> {
    const fresh = [...new Set(keys.filter((k) => !this.#running.has(k)))];
    if (!this.#deps.states || fresh.length === 0) return new Map();
    try {
      return await this.#deps.states.load(fresh);
    } catch (err) {
      // Starting without the saved limits could spend a budget a second time: the leases go
      // back, and a later pass tries again.
      await this.#deps.queue.releaseDomains(granted).catch(() => {});
      throw err;
    }
  }

  async #destinationOf(domain: string): Promise<string> {
    if (!this.#deps.destinationOf) return domain;
    try {
      return await this.#deps.destinationOf(domain);
    } catch {
      return domain; // no rollup when the grouping cannot be worked out
    }
  }

  #attach(domain: string, key: string, restored: DestinationState | undefined): void {
    this.#domainKey.set(domain, key);
    const running = this.#running.get(key);
    if (running) {
      running.domains.add(domain);
      return;
    }
    const actor = this.#deps.createActor(key, domain, restored);
    const stop = new AbortController();
    const kill = new AbortController();
    const done = actor.run(stop.signal, kill.signal).then(
      () => {},
      (err) => this.#crashed(key, err),
    );
    this.#running.set(key, {
      key,
      domains: new Set([domain]),
      turn: 0,
      actor,
      stop,
      kill,
      done,
      idleSince: undefined,
      quietSince: undefined,
      dry: false,
      lead: domain,
      // What it starts from is what the store holds (or, with no row, what a fresh actor is):
      // nothing to write until it changes.
      saved: stateJson(actor),
    });
    this.#deps.metrics?.setActors(this.#running.size);
    this.#deps.logger.log({ event: "actor.started", domain: key });
  }

  /** Forgets the actor `key` and its member domains; returns the members. */
  #detach(key: string): string[] {
    const r = this.#running.get(key);
    this.#running.delete(key);
    this.#deps.metrics?.setActors(this.#running.size);
    const members = [...(r?.domains ?? [])];
    for (const d of members) this.#domainKey.delete(d);
    return members;
  }

  async #crashed(key: string, err: unknown): Promise<void> {
    const running = this.#running.get(key);
    const members = this.#detach(key);
    const now = this.#deps.clock.now();
    let restartAt = now;
    for (const d of members) {
      const crashes = (this.#crashes.get(d)?.crashes ?? 0) + 1;
      restartAt = now + this.options.restartBackoffMs * 2 ** Math.min(crashes - 1, 6);
      this.#crashes.set(d, { crashes, restartAt });
    }
    this.#deps.logger.log({ event: "actor.crashed", domain: key, error: message(err), restartAt });
    // The limits it reached stay in force for the actor that restarts it.
    if (running) await this.#save([running], now);
    // Queued work goes back at once; in-flight claims come back when their lease ends.
    const queued = running?.actor.drain() ?? [];
    try {
      await this.#deps.queue.release(queued, now, now);
      await this.#deps.queue.releaseDomains(members);
    } catch (e) {
      this.#deps.logger.log({ event: "loop.failed", loop: "supervisor.crash", error: message(e) });
    }
  }

  async #feed(now: number): Promise<number> {
    // One claim statement for every actor with room, each member domain asked for its share.
    const requests: { domain: string; limit: number }[] = [];
    const asked: Running[] = [];
    for (const r of this.#running.values()) {
      const want = r.actor.demand(now);
      if (want <= 0) continue;
      asked.push(r);
      const members = [...r.domains];
      // Members take turns getting the larger share, so no domain of a group starves.
      r.turn = (r.turn + 1) % members.length;
      const share = Math.floor(want / members.length);
      const extra = want % members.length;
      members.forEach((domain, i) => {
        const limit = share + (((i - r.turn + members.length) % members.length) < extra ? 1 : 0);
        if (limit > 0) requests.push({ domain, limit });
      });
    }
    if (requests.length === 0) return 0;
    const claimed = await this.#deps.queue.claimMany(requests, now);
    // An actor asked for work that got none is dry: with nothing else under way it is cold.
    const served = new Set(claimed.map((d) => this.#domainKey.get(d.domain) ?? d.domain));
    for (const r of asked) r.dry = !served.has(r.key);
    return await this.#hand(claimed, now);
  }

  /** Offers claimed deliveries to their actors; releases what does not fit; returns how many moved. */
  async #hand(claimed: readonly Delivery[], now: number): Promise<number> {
    const byKey = new Map<string, Delivery[]>();
    for (const d of claimed) {
      const key = this.#domainKey.get(d.domain) ?? d.domain;
      const list = byKey.get(key);
      if (list) list.push(d);
      else byKey.set(key, [d]);
    }
    let moved = 0;
    const overflow: Delivery[] = [];
    for (const [key, ds] of byKey) {
      const r = this.#running.get(key);
      const rest = r ? r.actor.offer(ds) : ds;
      overflow.push(...rest);
      moved += ds.length - rest.length;
      if (r) r.idleSince = undefined;
    }
    if (overflow.length > 0) await this.#deps.queue.release(overflow, now, now);
    return moved;
  }

  #retire(now: number): void {
    const done: Running[] = [];
    for (const r of this.#running.values()) {
      if (!r.actor.idle()) {
        r.idleSince = undefined;
        continue;
      }
      r.idleSince ??= now;
      // Nothing due and no connection worth keeping warm: the slot goes back now.
      if (r.dry || now - r.idleSince >= this.options.actorIdleMs) done.push(r);
    }
    if (done.length > 0) this.#stopMany(done, "idle");
  }

  /**
   * Actors that could stop without losing work or delaying due mail, quiet longest first:
   * nothing queued or in flight, and nothing due (dry) or nothing they may send now (no demand).
   */
  #cold(now: number): Running[] {
    const cold: Running[] = [];
    for (const r of this.#running.values()) {
      if (!(r.actor.quiet?.() ?? r.actor.idle())) {
        r.quietSince = undefined;
        continue;
      }
      r.quietSince ??= now;
      if (r.dry || r.actor.demand(now) <= 0) cold.push(r);
    }
    return cold.sort((a, b) => a.quietSince! - b.quietSince!);
  }

  /**
   * Stops actors that hold no work (idle or cold) together, in the background: passes do not
   * wait for their connections to say goodbye. Their slots stay counted, and their domains are
   * not taken up again, until then; their states are saved in one batch while their leases are
   * held, then the leases go back in one statement. Whatever one still had queued goes back to
   * the queue, due now.
   */
  #stopMany(runs: readonly Running[], reason: string): void {
    const members = runs.flatMap((r) => {
      for (const d of r.domains) this.#crashes.delete(d);
      return this.#detach(r.key);
    });
    for (const d of members) this.#releasing.add(d);
    this.#stoppingActors += runs.length;
    for (const r of runs) r.stop.abort();
    const stopped = (async () => {
      await Promise.all(runs.map((r) => r.done));
      const queued = runs.flatMap((r) => r.actor.drain());
      const now = this.#deps.clock.now();
      await this.#save(runs, now);
      if (queued.length > 0) await this.#deps.queue.release(queued, now, now);
      await this.#deps.queue.releaseDomains(members);
      for (const r of runs) {
        this.#deps.logger.log({ event: "actor.stopped", domain: r.key, reason });
      }
    })().catch((err) => {
      // The leases run out by themselves; the rows are due again when their claims' leases end.
      if (!this.#deps.store?.failed(err)) {
        this.#deps.logger.log({
          event: "loop.failed",
          loop: "supervisor.stop",
          error: message(err),
        });
      }
    }).finally(() => {
      for (const d of members) this.#releasing.delete(d);
      this.#stoppingActors -= runs.length;
      this.#stopping.delete(stopped);
    });
    this.#stopping.add(stopped);
  }

  /**
   * Stops the actor `key`. With `lost` (a domain whose lease was taken over) the stop is hard:
   * in-flight transactions are aborted, and the lost lease is not released (it is not ours).
   */
  async #stopActor(key: string, reason: string, lost?: string): Promise<void> {
    const r = this.#running.get(key);
    if (!r) return;
    const members = this.#detach(key);
    r.stop.abort();
    if (lost !== undefined) r.kill.abort();
    await r.done;
    const queued = r.actor.drain();
    const now = this.#deps.clock.now();
    // Saved while the leases are still held (the store checks them); not for a lost lease.
    if (lost === undefined) await this.#save([r], now);
    if (queued.length > 0) await this.#deps.queue.release(queued, now, now);
    await this.#deps.queue.releaseDomains(members.filter((d) => d !== lost));
    this.#deps.logger.log({ event: "actor.stopped", domain: key, reason });
  }

  /** Graceful stop: in-flight transactions get `drainMs`, then are aborted; queued work goes back. */
  async drain(): Promise<void> {
    this.#draining = true;
    await Promise.all(this.#stopping);
    const all = [...this.#running.values()];
    for (const r of all) r.stop.abort();
    const deadline = new AbortController();
    const timer = this.#deps.clock.sleep(this.options.drainMs, deadline.signal).then(
      () => all.forEach((r) => r.kill.abort()),
      () => {},
    );
    await Promise.all(all.map((r) => r.done));
    deadline.abort(WOKEN);
    await timer;
    const now = this.#deps.clock.now();
    await this.#save(all, now);
    const queued = all.flatMap((r) => r.actor.drain());
    const keys = [...this.#running.keys()];
    const domains = [...this.#domainKey.keys()];
    this.#running.clear();
    this.#domainKey.clear();
    this.#deps.metrics?.setActors(0);
    await this.#deps.queue.release(queued, now, now);
    await this.#deps.queue.releaseDomains(domains);
    for (const d of keys) {
      this.#deps.logger.log({ event: "actor.stopped", domain: d, reason: "shutdown" });
    }
  }

  /**
   * Saves the states of `runs` that changed since they were last saved, in one batch. Never
   * throws: a state not saved now is saved by the next flush, or, at a stop, lost, which costs at
   * most what the actor took since the last flush.
   */
  async #save(runs: readonly Running[], now: number): Promise<void> {
    const store = this.#deps.states;
    if (!store) return;
    const pending: { run: Running; json: string; write: DestinationStateWrite }[] = [];
    try {
      for (const run of runs) {
        const state = run.actor.saveState?.();
        if (!state) continue;
        const json = JSON.stringify(state);
        if (json === run.saved) continue;
        pending.push({ run, json, write: { key: run.key, domain: run.lead, state } });
      }
      if (pending.length === 0) return;
      const { refused } = await store.save(pending.map((p) => p.write), now);
      // A refused state is not offered again: the lease is gone, and the renewal stops the actor.
      for (const p of pending) p.run.saved = p.json;
      if (refused.length > 0) this.#deps.logger.log({ event: "state.refused", keys: refused });
    } catch (err) {
      if (!this.#deps.store?.failed(err)) {
        this.#deps.logger.log({ event: "loop.failed", loop: "state", error: message(err) });
      }
    }
  }

  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    const wake = new AbortController();
    this.#wake = wake;
    await this.#deps.clock.sleep(ms, AbortSignal.any([signal, wake.signal])).catch(() => {});
    this.#wake = undefined;
  }
}

function stateJson(actor: Actor): string | undefined {
  const state = actor.saveState?.();
  return state && JSON.stringify(state);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Connections per receiving host, across every actor of this instance (Postfix's
 * `default_destination_concurrency_limit`). Actors count connections per destination; many
 * destinations can share one host (a smarthost for everything, MX hosts shared by domains that
 * are not rolled up), and without this cap the host sees the sum. A slot is a `Disposable`
 * permit held from before the TCP connect until the session closes; waiting for one is not a
 * failure (the destination is not marked unreachable, no attempt is counted), waiters are served
 * in arrival order, and the wait ends when the caller's signal aborts.
 *
 * Each instance caps itself: N instances sharing a database may open up to N × the cap.
 *
 * @module
 */
import { ConnectionPermits, type Permit } from "../../actors/connection_permits.ts";

/** A host slot; `onWanted` tells its holder that another connection waits for the host. */
export interface HostPermit extends Permit {
  /** True while another connection to the same host waits for a slot. */
  readonly wanted: boolean;
  /** Calls `listener` whenever a connection starts waiting for this host (at once if one does). */
  onWanted(listener: () => void): void;
}

export class HostLimits {
  readonly #hosts = new Map<string, ConnectionPermits>();
  /** Per host, the holders to tell when someone waits: idle sessions then give their slot up. */
  readonly #holders = new Map<string, Set<() => void>>();

  constructor(readonly perHost: number) {
    if (!Number.isInteger(perHost) || perHost < 1) {
      throw new RangeError(
        `Cannot limit connections per host as 'perHost' must be an integer >= 1: current value is ${perHost}`,
      );
    }
  }

  /** Open connections to `host:port` (tests, metrics). */
  inUse(host: string, port: number): number {
    return this.#hosts.get(`${host}:${port}`)?.inUse ?? 0;
  }

  /** A slot for one connection to `host:port`; rejects with the signal's reason when aborted. */
  async acquire(host: string, port: number, signal?: AbortSignal): Promise<HostPermit> {
    const key = `${host}:${port}`;
    let permits = this.#hosts.get(key);
    if (!permits) {
      permits = new ConnectionPermits(this.perHost);
      this.#hosts.set(key, permits);
    }
    const slots = permits;
    let permit: Permit;
    try {
      const now = slots.tryAcquire();
      if (now) permit = now;
      else {
        const waiting = slots.acquire(signal);
        for (const tell of this.#holders.get(key) ?? []) tell();
        permit = await waiting;
      }
    } catch (err) {
      this.#forgetIdle(key, slots);
      throw err;
    }
    let released = false;
    let listener: (() => void) | undefined;
    const release = () => {
      if (released) return;
      released = true;
      if (listener) this.#holders.get(key)?.delete(listener);
      permit.release();
      this.#forgetIdle(key, slots);
    };
    const holders = this.#holders;
    return {
      get released() {
        return released;
      },
      get wanted() {
        return slots.waiting > 0;
      },
      onWanted(fn) {
        if (released) return;
        if (listener) holders.get(key)?.delete(listener);
        listener = fn;
        let set = holders.get(key);
        if (!set) holders.set(key, set = new Set());
        set.add(fn);
        if (slots.waiting > 0) fn();
      },
      release,
      [Symbol.dispose]: release,
    };
  }

  /** Hosts with no connection and no waiter are forgotten, so the map stays small. */
  #forgetIdle(key: string, permits: ConnectionPermits): void {
    if (permits.inUse === 0 && permits.waiting === 0 && this.#hosts.get(key) === permits) {
      this.#hosts.delete(key);
      this.#holders.delete(key);
    }
  }
}

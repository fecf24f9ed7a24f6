/**
 * The deadlines of a channel's reads and writes on one reusable timer of the injected clock.
 *
 * Each read or write has its own phase timeout (RFC 5321 §4.5.3.2), measured from its start, as
 * with one timer per operation; but a session makes several operations per message, and a timer
 * plus the AbortController that cancels it cost more than the operation itself on a fast peer.
 * So arming a deadline only records it: the timer sleeps at most `tick` (the shortest phase
 * timeout) at a time and, on waking, either expires the deadline that has passed or sleeps again
 * until the earliest armed one. No deadline armed after `tick` can fall before the wake-up, so
 * arming never needs to cancel and restart the timer.
 *
 * The timer runs while the session works and is stopped by {@link Watchdog.stop} between the
 * session's public operations (and stops itself when it wakes with nothing in flight), so an
 * idle session holds no timer.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import { timedOut } from "./session_error.ts";
import type { Phase } from "./timeouts.ts";

/** The deadline of one operation in flight. */
export interface Deadline {
  readonly phase: Phase;
  readonly ms: number;
  readonly at: number;
}

// Cancelling a sleep with an explicit reason spares the DOMException that abort() would build.
const STOPPED = Symbol("watchdog stopped");
const ignore = () => {};

/** Why {@link Watchdog.expired} rejects other than with a timeout: the watchdog was closed. */
export const CLOSED = Symbol("channel closed");

/** One timer for the deadlines of every operation of a channel. */
export class Watchdog {
  readonly #clock: Clock;
  readonly #tick: number;
  // Reads and writes can be in flight at once (a pipelined group is written while read).
  readonly #deadlines = new Set<Deadline>();
  #timer: AbortController | undefined;
  #wakeAt = 0;
  // Operations race against this promise. It is replaced whenever the timer stops, so the
  // reactions that the races leave on it are dropped with it instead of piling up on a
  // long-lived connection.
  #run: { readonly expired: Promise<never>; readonly reject: (why: unknown) => void } | undefined;
  #done = false;

  /** `tick` is the longest single sleep; use the shortest timeout that will be armed. */
  constructor(clock: Clock, tick: number) {
    this.#clock = clock;
    this.#tick = tick;
  }

  /**
   * A promise for the operations in flight to race against: it rejects with a timeout failure
   * (a SessionBrokenError) when an armed deadline passes, with {@link CLOSED} when the watchdog
   * is closed, and never resolves. Read it after {@link arm}.
   */
  get expired(): Promise<never> {
    if (this.#done || !this.#run) return Promise.reject(CLOSED);
    return this.#run.expired;
  }

  /** Starts the deadline of an operation of `phase` that may take `ms`. */
  arm(phase: Phase, ms: number): Deadline {
    const deadline = { phase, ms, at: this.#clock.now() + ms };
    this.#deadlines.add(deadline);
    if (this.#done) return deadline;
    this.#run ??= newRun();
    if (this.#timer === undefined || deadline.at < this.#wakeAt) this.#sleep();
    return deadline;
  }

  /** Ends a deadline (its operation finished either way). */
  disarm(deadline: Deadline): void {
    this.#deadlines.delete(deadline);
  }

  /** Cancels the timer when nothing is in flight; the next {@link arm} starts it again. */
  stop(): void {
    if (this.#deadlines.size > 0) return;
    this.#cancelTimer();
    this.#run = undefined;
  }

  /** Cancels the timer for good and ends every operation still racing. */
  close(): void {
    this.#done = true;
    this.#cancelTimer();
    this.#run?.reject(CLOSED);
    this.#run = undefined;
  }

  #cancelTimer(): void {
    const timer = this.#timer;
    this.#timer = undefined;
    timer?.abort(STOPPED);
  }

  #sleep(): void {
    this.#cancelTimer();
    const now = this.#clock.now();
    const wakeAt = Math.min(this.#earliest()?.at ?? Infinity, now + this.#tick);
    const timer = new AbortController();
    this.#timer = timer;
    this.#wakeAt = wakeAt;
    this.#clock.sleep(wakeAt - now, timer.signal).then(() => this.#wake(timer), ignore);
  }

  #wake(timer: AbortController): void {
    if (this.#timer !== timer) return;
    this.#timer = undefined;
    const next = this.#earliest();
    // Nothing in flight: stay stopped until the next operation arms a deadline.
    if (!next) return void (this.#run = undefined);
    if (next.at > this.#clock.now()) return this.#sleep();
    this.#done = true;
    this.#run?.reject(timedOut(next.phase, next.ms));
    this.#run = undefined;
  }

  #earliest(): Deadline | undefined {
    let earliest: Deadline | undefined;
    for (const d of this.#deadlines) if (!earliest || d.at < earliest.at) earliest = d;
    return earliest;
  }
}

function newRun(): { readonly expired: Promise<never>; readonly reject: (why: unknown) => void } {
  let reject!: (why: unknown) => void;
  const expired = new Promise<never>((_resolve, no) => reject = no);
  // When no operation is racing at the moment it rejects, nobody else listens.
  expired.catch(ignore);
  return { expired, reject };
}

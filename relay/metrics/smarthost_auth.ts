/**
 * The latest AUTH outcome per smarthost route, the input of the `smarthost_auth_failed` alert.
 * The deliverer reports every AUTH through a route (a port declared by relay/adapters, wired by
 * the composition root); only the latest one counts, whichever instance's actor made it: a route
 * is failing from a refusal until the next accepted AUTH.
 *
 * @module
 */
import type { RefusedRoute } from "./alerts.ts";

/** One AUTH outcome through a route (the same shape relay/adapters reports). */
export type SmarthostAuthReport =
  | {
    readonly kind: "accepted";
    readonly route: string;
    readonly host: string;
    readonly username: string;
  }
  | {
    readonly kind: "refused";
    readonly route: string;
    readonly host: string;
    readonly username: string;
    readonly reply: string;
  };

export class SmarthostAuthState {
  readonly #refused = new Map<string, RefusedRoute>();

  /**
   * Records an outcome at `now`; returns whether the route changed between failing and not, so
   * the caller evaluates the alert at once instead of at its next interval.
   */
  report(event: SmarthostAuthReport, now: number): boolean {
    const was = this.#refused.get(event.route);
    if (event.kind === "accepted") return this.#refused.delete(event.route);
    this.#refused.set(event.route, {
      route: event.route,
      host: event.host,
      username: event.username,
      reply: event.reply,
      since: was?.since ?? new Date(now),
      refusals: (was?.refusals ?? 0) + 1,
    });
    return was === undefined;
  }

  /** Routes failing now, by pattern. */
  refused(): RefusedRoute[] {
    return [...this.#refused.values()].sort((a, b) => a.route.localeCompare(b.route));
  }
}

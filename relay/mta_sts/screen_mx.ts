/**
 * What a decision means for one delivery's MX hosts (RFC 8461 §5): under `enforce` only the
 * hosts the policy lists are tried, each over TLS verified for its own name; under `testing`
 * every host is tried and the unlisted ones, and TLS failures, are only reported; with no
 * policy the relay's own TLS policy applies.
 *
 * @module
 */
import { mxAllowed } from "./mx_pattern.ts";
import type { MtaStsDecision } from "./policy_source.ts";

export interface MxScreen<T> {
  /** Hosts to try, in the order given. Empty under `enforce`: defer, as the policy may change. */
  readonly hosts: readonly T[];
  /** Hosts the policy does not list: skipped under `enforce`, to report under `testing`. */
  readonly unlisted: readonly T[];
  /**
   * `verified`: a host whose certificate does not verify for its MX name (or that offers no
   * STARTTLS) must not get the mail; `report`: deliver as usual and report such failures;
   * `own`: no policy, the relay's TLS policy decides.
   */
  readonly tls: "verified" | "report" | "own";
}

/** Screens `hosts` (named by `nameOf`, e.g. a route host's `name`) against `decision`. */
export function screenMxHosts<T>(
  decision: MtaStsDecision,
  hosts: readonly T[],
  nameOf: (host: T) => string,
): MxScreen<T> {
  if (decision.mode === "none") return { hosts, unlisted: [], tls: "own" };
  const policy = decision.policy;
  const listed = hosts.filter((h) => mxAllowed(policy, nameOf(h)));
  const unlisted = hosts.filter((h) => !mxAllowed(policy, nameOf(h)));
  return decision.mode === "enforce"
    ? { hosts: listed, unlisted, tls: "verified" }
    : { hosts, unlisted, tls: "report" };
}

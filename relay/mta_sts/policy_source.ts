/**
 * The policy to apply to one recipient domain (RFC 8461 §3.3, §5.1), from the TXT record, the
 * stored policy and, when needed, a fresh fetch:
 *
 * - a stored policy is valid until `fetchedAt + max_age`;
 * - while the TXT id equals the stored policy's id, the stored policy is used; it is fetched
 *   again once it is `refreshAfterMs` old, so a policy in use never runs out (§5.1, §10.2);
 * - a new id, or an expired policy, means a fetch; a fetched policy replaces the stored one;
 * - when the record is missing or broken, DNS fails, or the fetch fails, an unexpired stored
 *   policy is still applied (§5.1: a blocked refresh must not switch the policy off);
 * - no record and nothing stored: no policy.
 *
 * Decisions that hide a problem an operator should hear of (§5.1: "SHOULD alert") carry a
 * `warning`. Concurrent calls for one domain share one lookup and fetch.
 *
 * @module
 */
import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import type { Clock } from "../../lib/clock.ts";
import { isHostName } from "./mx_pattern.ts";
import { parsePolicy } from "./policy_file.ts";
import type { FetchPolicy } from "./policy_fetcher.ts";
import type { MtaStsStore, PolicyRecord, StoredPolicy } from "./store.ts";
import type { Parsed } from "./result.ts";
import { isStsRecord, type LookupTxt, selectStsRecord, type TxtAnswer } from "./txt_record.ts";

/** Where an applied policy came from: the store with a matching TXT id, a fetch just now, or
 * the store because the TXT record or the fetch could not confirm it. */
export type PolicySource = "cache" | "fetched" | "fallback";

/** Why no policy applies. */
export type NoPolicyReason =
  /** The name cannot have a policy (an address literal, say). */
  | "not-a-domain"
  /** No `v=STSv1` TXT record, and nothing stored: the usual case. */
  | "no-record"
  /** Several `v=STSv1` records, or a malformed one, and nothing stored. */
  | "invalid-record"
  /** The TXT lookup failed, and nothing stored. */
  | "dns-error"
  /** The policy could not be fetched, and nothing stored. */
  | "fetch-failed"
  /** The fetched policy is malformed, and nothing stored. */
  | "invalid-policy"
  /** The domain publishes `mode: none`: it has withdrawn its policy. */
  | "policy-none";

export type MtaStsDecision =
  | {
    /** `enforce`: only MX hosts that `mxAllowed`, over verified TLS (§4, §5). `testing`: any. */
    readonly mode: "enforce" | "testing";
    readonly domain: string;
    readonly policy: StoredPolicy;
    readonly source: PolicySource;
    readonly warning?: string;
  }
  | {
    readonly mode: "none";
    readonly domain: string;
    readonly reason: NoPolicyReason;
    /** The `mode: none` policy, for reason `policy-none`. */
    readonly policy?: StoredPolicy;
    readonly source?: PolicySource;
    readonly warning?: string;
  };

export interface MtaStsOptions {
  readonly clock: Clock;
  /** TXT lookups, e.g. `(name, signal) => resolver.resolve(name, "TXT", signal)`. */
  readonly lookupTxt: LookupTxt;
  /** Policy files, e.g. {@link httpsPolicyFetcher}. */
  readonly fetchPolicy: FetchPolicy;
  readonly store: MtaStsStore;
  /** Age after which a policy still in use is fetched again (default one day, as §5.1 hints). */
  readonly refreshAfterMs?: number;
}

type RecordOutcome =
  | { readonly kind: "id"; readonly id: string }
  | { readonly kind: "none"; readonly reason: NoPolicyReason; readonly problem?: string };

type FetchOutcome =
  | { readonly ok: true; readonly policy: PolicyRecord }
  | { readonly ok: false; readonly reason: NoPolicyReason; readonly problem: string };

export class MtaSts {
  readonly #o: MtaStsOptions;
  readonly #refreshAfterMs: number;
  readonly #inFlight = new Map<string, Promise<MtaStsDecision>>();

  constructor(options: MtaStsOptions) {
    this.#o = options;
    this.#refreshAfterMs = options.refreshAfterMs ?? 86_400_000;
    if (!(this.#refreshAfterMs > 0)) {
      throw new RangeError(
        `Cannot create MtaSts as 'refreshAfterMs' must be > 0: current value is ${this.#refreshAfterMs}`,
      );
    }
  }

  /**
   * The policy for mail to `domain`. Rejects only when the store cannot be read, or with the
   * reason of `signal`, which abandons the wait (the shared lookup goes on for other callers).
   */
  policyFor(domain: string, signal?: AbortSignal): Promise<MtaStsDecision> {
    const lower = domain.toLowerCase().replace(/\.$/, "");
    // The policy host and the TXT name are DNS names: an internationalised domain as A-labels.
    const name = domainToASCII(lower) || lower;
    if (!isHostName(name) || isIP(name) !== 0) {
      return Promise.resolve({ mode: "none", domain: name, reason: "not-a-domain" });
    }
    let work = this.#inFlight.get(name);
    if (!work) {
      work = this.#decide(name).finally(() => this.#inFlight.delete(name));
      this.#inFlight.set(name, work);
    }
    return signal ? abandonable(work, signal) : work;
  }

  async #decide(domain: string): Promise<MtaStsDecision> {
    const stored = await this.#o.store.get(domain);
    const usable = stored && this.#o.clock.now() < stored.expiresAt ? stored : undefined;
    const record = await this.#record(domain);
    if (record.kind === "none") {
      if (usable) return apply(usable, "fallback", fallbackWarning(record.problem, usable));
      return withWarning({ mode: "none", domain, reason: record.reason }, record.problem);
    }
    if (
      usable?.id === record.id && this.#o.clock.now() - usable.fetchedAt < this.#refreshAfterMs
    ) return apply(usable, "cache");

    const fetched = await this.#fetch(domain, record.id);
    if (fetched.ok) {
      const problems: string[] = [];
      const latest = await this.#keep(fetched.policy, problems);
      return apply(latest, "fetched", problems.join("; ") || undefined);
    }
    const problems = [fetched.problem];
    if (stored) {
      await this.#o.store.noteError(domain, fetched.problem, this.#o.clock.now()).catch((err) =>
        problems.push(`cannot note the error: ${message(err)}`)
      );
    }
    if (usable) return apply(usable, "fallback", fallbackWarning(problems.join("; "), usable));
    return { mode: "none", domain, reason: fetched.reason, warning: problems.join("; ") };
  }

  async #record(domain: string): Promise<RecordOutcome> {
    const name = `_mta-sts.${domain}`;
    // A port that rejects instead of answering is read as a failed lookup.
    const failed = (err: unknown): TxtAnswer => ({ kind: "error", reason: message(err) });
    const answer = await this.#o.lookupTxt(name).catch(failed);
    switch (answer.kind) {
      case "records": {
        if (!answer.records.some(isStsRecord)) return { kind: "none", reason: "no-record" };
        const parsed = selectStsRecord(answer.records);
        if (parsed.ok) return { kind: "id", id: parsed.value.id };
        return { kind: "none", reason: "invalid-record", problem: `TXT ${name}: ${parsed.reason}` };
      }
      case "error":
        return { kind: "none", reason: "dns-error", problem: `TXT ${name}: ${answer.reason}` };
      default:
        return { kind: "none", reason: "no-record" };
    }
  }

  async #fetch(domain: string, id: string): Promise<FetchOutcome> {
    const text = await this.#o.fetchPolicy(domain).catch((err): Parsed<string> => ({
      ok: false,
      reason: message(err),
    }));
    if (!text.ok) return { ok: false, reason: "fetch-failed", problem: text.reason };
    const policy = parsePolicy(text.value);
    if (!policy.ok) {
      return {
        ok: false,
        reason: "invalid-policy",
        problem: `the policy of ${domain} is invalid: ${policy.reason}`,
      };
    }
    const fetchedAt = this.#o.clock.now();
    return {
      ok: true,
      policy: {
        domain,
        id,
        ...policy.value,
        fetchedAt,
        expiresAt: fetchedAt + policy.value.maxAge * 1000,
      },
    };
  }

  /** Stores a fetched policy; when another instance stored a later one, that one wins. */
  async #keep(policy: PolicyRecord, problems: string[]): Promise<StoredPolicy> {
    const fresh: StoredPolicy = { ...policy, lastError: null };
    try {
      if (await this.#o.store.put(policy)) return fresh;
      return await this.#o.store.get(policy.domain) ?? fresh;
    } catch (err) {
      problems.push(`cannot store the policy of ${policy.domain}: ${message(err)}`);
      return fresh;
    }
  }
}

function apply(policy: StoredPolicy, source: PolicySource, warning?: string): MtaStsDecision {
  const decision: MtaStsDecision = policy.mode === "none"
    ? { mode: "none", domain: policy.domain, reason: "policy-none", policy, source }
    : { mode: policy.mode, domain: policy.domain, policy, source };
  return withWarning(decision, warning);
}

function withWarning(decision: MtaStsDecision, warning: string | undefined): MtaStsDecision {
  return warning ? { ...decision, warning } : decision;
}

function fallbackWarning(problem: string | undefined, policy: StoredPolicy): string {
  const why = problem ?? `no MTA-STS TXT record for ${policy.domain}`;
  return `${why}; applying the stored policy, valid until ${
    new Date(policy.expiresAt).toISOString()
  }`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `work`, or the reason of `signal` if it aborts first. */
function abandonable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

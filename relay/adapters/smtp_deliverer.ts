/**
 * The actors' Deliverer port over real SMTP: plan the route (static route, MX, implicit MX),
 * try each target in order until one gives a session (the next MX on connection failure or a
 * 4xx/5xx greeting, RFC 5321 §5.1), and adapt the SMTP client's per-recipient outcomes to the
 * actors' results. A session moves on to the next target too when its host refuses a whole
 * transaction for now (SessionAdapter below).
 *
 * A static route may bring its own transport (smarthost.ts): implicit TLS or STARTTLS with its
 * own certificate check, and SMTP AUTH. Credentials the smarthost refuses defer the mail with a
 * reply naming host and user, stop the walk over the route's addresses (the same account would
 * be refused again, and repeated failures can lock it), and are reported to `smarthostAuth`.
 *
 * The envelope sender is the From address, or, with `envelopeSender` (VERP), one per delivery:
 * recipients that need different senders go in separate transactions on the same connection,
 * since MAIL FROM is per transaction (RFC 5321 §3.3).
 *
 * @module
 */
import {
  type ConnectResult,
  type Deliverer,
  type Delivery,
  type FailureResult,
  NothingSentError,
  type RecipientResult,
  type Session,
  type TlsDetail,
} from "../../actors/ports.ts";
import type { Clock } from "../../lib/clock.ts";
import type { Resolver, RouteHost, RoutePlan, Router, TlsaRecord } from "../dns/mod.ts";
import { type MtaStsDecision, screenMxHosts, type StoredPolicy } from "../mta_sts/mod.ts";
import { daneForHost, daneStartTls, type HostDane } from "../dane/mod.ts";
import { type RouteTarget, routeTargets } from "../dns/mod.ts";
import {
  boundConnect,
  type ConnectOptions,
  type Connector,
  connectSmtp,
  describeOutcome,
  type Failure,
  type Outcome,
  SmtpSession,
} from "../smtp/mod.ts";
import type { BrokenTlsPeers, StartTls, TlsFailureType, TlsPolicy } from "../tls/mod.ts";
import type { MessageSource } from "./message_source.ts";
import type { SmtpTimeouts } from "../smtp/mod.ts";
import type { TraceHook } from "../smtp/mod.ts";
import type { HostLimits, HostPermit } from "./host_limits.ts";
import type { SourceAddresses } from "./source_addresses.ts";
import {
  authFailure,
  routeTls,
  type RouteTransport,
  type SmarthostAuthListener,
} from "./smarthost.ts";

export interface SmtpDelivererOptions {
  readonly clock: Clock;
  readonly router: Router;
  readonly messages: MessageSource;
  readonly heloName: string;
  /**
   * The TLS policy for a destination, given the MX hosts about to be tried: providers are
   * recognised by their MX host names too (a company domain hosted at Google gets Google's).
   */
  readonly tlsPolicy: (domain: string, mxHosts: readonly string[]) => TlsPolicy;
  readonly brokenTls?: BrokenTlsPeers;
  readonly timeouts?: Partial<SmtpTimeouts>;
  readonly caCerts?: readonly string[];
  readonly trace?: TraceHook;
  /** The TCP connector (tests); default Deno.connect. */
  readonly connect?: ConnectOptions["connect"];
  /** Caps connections per receiving host across every destination of this instance. */
  readonly hostLimits?: HostLimits;
  /**
   * The MAIL FROM for one delivery (VERP: `encodeVerp(delivery.id, key)`); default: the message's
   * From address for every recipient.
   */
  readonly envelopeSender?: (delivery: Delivery) => string;
  /**
   * A static route's transport, by the pattern its plan names: TLS and AUTH for a smarthost.
   * Undefined (or no such option): the destination's TLS policy and no AUTH, as for an MX.
   */
  readonly routeTransport?: (pattern: string) => RouteTransport | undefined;
  /** Told how every AUTH through a route went (the `smarthost_auth_failed` alert). */
  readonly smarthostAuth?: SmarthostAuthListener;
  /**
   * The recipient domains' MTA-STS policies (RFC 8461), for mail routed by MX. Absent: none are
   * looked up. A static route is the operator's choice and takes no policy.
   */
  readonly mtaSts?: MtaStsPolicies;
  /**
   * DANE for SMTP (RFC 7672): TLSA records looked up through this resolver, whose answers say
   * whether they were DNSSEC-validated by a trusted resolver. Absent: no DANE.
   */
  readonly dane?: { readonly resolver: Resolver };
  /** Told how TLS went on every connection attempt (metrics, TLS reporting). */
  readonly onTls?: (report: TlsReport) => void;
  /**
   * Egress source addresses: each connection binds to the one picked and sends its EHLO name.
   * Absent, or none picked: `connect` (or Deno.connect) and `heloName`.
   */
  readonly sourceAddresses?: SourceAddresses;
  /** The connector bound to a source address (tests); default: over `node:net`. */
  readonly boundConnect?: (localAddress: string) => Connector;
  /** Where mail goes once its MX hosts have failed it for long enough (`smtp_fallback_relay`). */
  readonly fallbackRelay?: FallbackRelayOption;
}

/**
 * The fallback relay as the deliverer sees it: how long mail must have waited, and how to
 * reach the relay (its plan from a router whose only route is `*` to it, and its transport).
 */
export interface FallbackRelayOption {
  readonly afterMs: number;
  readonly plan: (signal: AbortSignal) => Promise<RoutePlan>;
  readonly transport?: RouteTransport;
}

/** The TLS policy a connection attempt ran under, and where it came from. */
export type AppliedTls =
  | { readonly kind: "dane"; readonly tlsaName: string; readonly records: readonly string[] }
  | {
    readonly kind: "mta-sts";
    readonly mode: "enforce" | "testing";
    readonly policy: StoredPolicy;
  }
  | { readonly kind: "route"; readonly pattern: string }
  | { readonly kind: "none" };

/** How TLS went on one connection attempt (one per MX host tried). */
export interface TlsReport {
  /** The recipient domain (the policy domain). */
  readonly domain: string;
  readonly mxHost: string;
  readonly address?: string;
  readonly applied: AppliedTls;
  /** The TLS policy the session was opened under (`verified`, `required`, ...). */
  readonly tlsPolicy: TlsPolicy;
  /** `success`: a session was opened and TLS (if any) held; otherwise what failed. */
  readonly result: "success" | TlsFailureKind;
  /** Whether the session (if any) is encrypted, and whether its certificate was verified. */
  readonly tls: boolean;
  readonly verified: boolean;
  readonly reason?: string;
}

/** RFC 8460 §4.3 result types Ferry observes. */
export type TlsFailureKind = TlsFailureType | "dnssec-invalid" | "tlsa-invalid";

/** What the deliverer asks of MTA-STS (relay/mta_sts's `MtaSts` has it). */
export interface MtaStsPolicies {
  policyFor(domain: string, signal?: AbortSignal): Promise<MtaStsDecision>;
}

export class SmtpDeliverer implements Deliverer {
  constructor(readonly o: SmtpDelivererOptions) {}

  async connect(
    destination: string,
    signal: AbortSignal,
    waitingSince?: number,
  ): Promise<ConnectResult> {
    const plan = await this.o.router.planRoute(destination, signal);
    if (plan.kind !== "hosts") {
      const code = plan.kind === "permanent" ? 550 : 451;
      return {
        kind: "failed",
        result: {
          kind: plan.kind,
          scope: "connection",
          code,
          enhanced: plan.status,
          reply: `${code} ${plan.status} ${plan.reason}`,
        },
      };
    }
    const mxHosts = plan.via === "mx"
      ? [...new Set(plan.hosts.map((h) => h.name.toLowerCase()))].sort()
      : [];
    const route = plan.via === "static" ? plan.route : undefined;
    const transport = route === undefined ? undefined : this.o.routeTransport?.(route);
    const own = routeTls(transport, this.o.tlsPolicy(destination, mxHosts));
    let { tlsPolicy } = own;
    const { implicitTls } = own;
    const auth = transport?.auth;
    let hosts = plan.hosts;
    let applied: AppliedTls = route !== undefined && transport?.tls
      ? { kind: "route", pattern: route }
      : { kind: "none" };
    // DANE first: where the MX answer is DNSSEC-secure and TLSA records exist, they decide, and
    // MTA-STS is not consulted (RFC 8461 §2).
    const dane = this.o.dane && plan.via !== "static" && plan.mxSecure
      ? await this.#dane(destination, plan, signal)
      : undefined;
    let unlisted: ReadonlySet<string> = NONE;
    if (!dane && this.o.mtaSts && plan.via !== "static") {
      const sts = await this.#mtaSts(destination, hosts, signal);
      if (sts.kind === "failed") return sts;
      hosts = sts.hosts;
      unlisted = sts.unlisted;
      if (sts.verified) tlsPolicy = "verified";
      if (sts.decision.mode !== "none") {
        applied = { kind: "mta-sts", mode: sts.decision.mode, policy: sts.decision.policy };
      }
    }
    const targets = routeTargets(hosts);
    const how: HowToOpen = {
      tlsPolicy,
      implicitTls,
      auth,
      route,
      applied,
      dane,
      destination,
      unlisted,
    };
    const first = await this.#walk(targets, 0, how, signal);
    if (first.kind === "ready") {
      return {
        kind: "connected",
        session: new SessionAdapter(
          first,
          this.o.messages,
          this.o.envelopeSender,
          // RFC 5321 §5.1: the next hosts stay available to the session, for a transaction
          // the one it reached refuses as a whole for the time being.
          (after, sending) => this.#walk(targets, after + 1, how, sending),
        ),
      };
    }
    const { last, lastHost, lastTls } = first;
    // Every MX host failed to give a session. Mail that has waited long enough goes through the
    // fallback relay instead. Not past a refusal Ferry made itself (DANE, MTA-STS): routing
    // around the destination's own TLS policy is not what a fallback is for. Static routes are
    // the operator's choice already and never fall back.
    const fallback = this.o.fallbackRelay;
    if (
      fallback && plan.via !== "static" && last?.local !== true && waitingSince !== undefined &&
      this.o.clock.now() - waitingSince >= fallback.afterMs && !signal.aborted
    ) {
      const relayed = await this.#fallback(fallback, destination, signal);
      if (relayed) return relayed;
    }
    return {
      kind: "failed",
      result: last && last.kind === "transient" ? last : {
        kind: "transient",
        scope: "connection",
        code: last?.code ?? 451,
        ...(last?.enhanced ? { enhanced: last.enhanced } : {}),
        reply: last?.reply ?? `451 4.4.1 no host of ${destination} could be reached`,
      },
      ...(lastHost ? { mxHost: lastHost } : {}),
      ...(lastTls ? { tlsDetail: lastTls } : {}),
    };
  }

  /**
   * Opens a session at the fallback relay, under its own transport (TLS, AUTH) as for a static
   * route; undefined when it cannot be planned or reached, and the MX hosts' failure stands.
   */
  async #fallback(
    fallback: FallbackRelayOption,
    destination: string,
    signal: AbortSignal,
  ): Promise<ConnectResult | undefined> {
    const plan = await fallback.plan(signal);
    if (plan.kind !== "hosts") return undefined;
    const { tlsPolicy, implicitTls } = routeTls(
      fallback.transport,
      this.o.tlsPolicy(destination, []),
    );
    const how: HowToOpen = {
      tlsPolicy,
      implicitTls,
      auth: fallback.transport?.auth,
      route: FALLBACK_ROUTE,
      applied: fallback.transport?.tls
        ? { kind: "route", pattern: FALLBACK_ROUTE }
        : { kind: "none" },
      dane: undefined,
      destination,
      unlisted: NONE,
    };
    const targets = routeTargets(plan.hosts);
    const walked = await this.#walk(targets, 0, how, signal);
    if (walked.kind !== "ready") return undefined;
    return {
      kind: "connected",
      session: new SessionAdapter(
        walked,
        this.o.messages,
        this.o.envelopeSender,
        (after, sending) => this.#walk(targets, after + 1, how, sending),
      ),
    };
  }

  /**
   * Tries `targets` in order from `from` until one gives a session (the next MX on connection
   * failure or a 4xx/5xx greeting, RFC 5321 §5.1); or says why none did.
   */
  async #walk(
    targets: readonly RouteTarget[],
    from: number,
    how: HowToOpen,
    signal: AbortSignal,
  ): Promise<Walked> {
    const { implicitTls, auth, route, destination } = how;
    let last: FailureResult | undefined;
    let lastHost: string | undefined;
    /** The TLS decision at `lastHost`, when TLS is why that host gave no session. */
    let lastTls: TlsDetail | undefined;
    for (let index = from; index < targets.length; index++) {
      const target = targets[index]!;
      if (signal.aborted) break;
      let tlsPolicy = how.tlsPolicy;
      let applied = how.applied;
      let startTls: StartTls | undefined;
      const hostDane = how.dane?.get(target.host);
      if (hostDane?.kind === "defer") {
        // RFC 7672 §2.2: a TLSA lookup that failed may hide records; never send in the clear.
        this.#tlsReport({
          domain: destination,
          mxHost: target.host,
          address: target.address,
          applied: { kind: "dane", tlsaName: target.host, records: [] },
          tlsPolicy: "verified",
          result: "dnssec-invalid",
          tls: false,
          verified: false,
          reason: hostDane.reason,
        });
        last = daneDeferral(`${target.host}: ${hostDane.reason}`);
        lastHost = target.host;
        lastTls = { policy: "dane", reason: hostDane.reason, tls: false, verified: false };
        continue;
      }
      if (hostDane?.kind === "unusable") {
        // RFC 7672 §2.2: TLSA records exist but none is usable: TLS is still mandatory.
        tlsPolicy = "required";
        applied = { kind: "dane", tlsaName: hostDane.tlsaName, records: [] };
      } else if (hostDane?.kind === "dane") {
        tlsPolicy = "verified";
        startTls = daneStartTls({
          records: hostDane.records,
          referenceNames: hostDane.referenceNames,
          serverName: hostDane.serverName,
          clock: this.o.clock,
        });
        applied = {
          kind: "dane",
          tlsaName: hostDane.tlsaName,
          records: hostDane.records.map(tlsaText),
        };
      }
      let slot: HostPermit | undefined;
      try {
        slot = await this.o.hostLimits?.acquire(target.address, target.port, signal);
      } catch {
        break; // stopped while waiting for a slot: not the host's failure
      }
      // Picked per connection, so a pool's addresses take connections in turn.
      const source = this.o.sourceAddresses?.pick(destination, target.address);
      const connect = source
        ? (this.o.boundConnect ?? boundConnect)(source.address)
        : this.o.connect;
      const opened = await connectSmtp(target.address, target.port, {
        clock: this.o.clock,
        heloName: source?.heloName ?? this.o.heloName,
        peerName: target.host,
        tlsPolicy,
        ...(startTls ? { startTls } : {}),
        ...(implicitTls ? { implicitTls } : {}),
        ...(auth ? { auth } : {}),
        ...(this.o.brokenTls ? { brokenTls: this.o.brokenTls } : {}),
        ...(this.o.timeouts ? { timeouts: this.o.timeouts } : {}),
        ...(this.o.caCerts ? { caCerts: this.o.caCerts } : {}),
        ...(this.o.trace ? { trace: this.o.trace } : {}),
        ...(connect ? { connect } : {}),
        signal,
      });
      // A session opened, or TLS itself failed: one TLS result (RFC 8460 §4.3 counts sessions).
      // A connection that never reached TLS (refused, 421 greeting) is not one.
      if (opened.kind === "ready" || opened.tls !== undefined) {
        // RFC 8461 §5: under `testing` the mail goes to an MX host the policy does not list,
        // and the session is reported as the policy failure it is (RFC 8460 §4.3.3: a failure
        // of no other category is a `validation-failure`, its detail in the reason code).
        const outsidePolicy = opened.kind === "ready" && applied.kind === "mta-sts" &&
          how.unlisted.has(target.host);
        this.#tlsReport({
          domain: destination,
          mxHost: target.host,
          address: target.address,
          applied,
          tlsPolicy,
          result: outsidePolicy
            ? "validation-failure"
            : opened.kind === "ready"
            ? "success"
            : applied.kind === "dane" && startTls && opened.tls !== "starttls-not-supported"
            ? "tlsa-invalid"
            : opened.tls!,
          tls: opened.kind === "ready" && opened.session.tls,
          verified: opened.kind === "ready" && opened.session.tlsVerified,
          ...(opened.kind === "failed"
            ? { reason: opened.failure.text }
            : outsidePolicy
            ? { reason: MX_HOST_MISMATCH }
            : {}),
        });
      }
      if (opened.kind === "ready") {
        if (auth && route !== undefined) {
          this.#authReport({
            kind: "accepted",
            route,
            host: target.host,
            username: auth.username,
          });
        }
        return {
          kind: "ready",
          session: opened.session,
          host: target.host,
          slot,
          index,
          tlsDetail: tlsDetail(applied, tlsPolicy, opened.session),
        };
      }
      slot?.release();
      lastHost = target.host;
      lastTls = opened.tls !== undefined
        ? tlsDetail(applied, tlsPolicy, { tls: false, tlsVerified: false })
        : undefined;
      const refused = opened.stage === "auth" && auth
        ? authFailure(opened.failure, target.host, auth.username)
        : undefined;
      if (refused) {
        if (route !== undefined) {
          this.#authReport({
            kind: "refused",
            route,
            host: target.host,
            username: auth!.username,
            reply: refused.reply,
          });
        }
        last = { kind: "transient", scope: "connection", ...refused };
        break;
      }
      // Any other failure to get a session (refused, timeout, 4xx/5xx greeting, TLS required
      // but missing) moves on to the next host; only the last one's reason is kept.
      last = toFailure(opened.failure);
    }
    return { kind: "failed", last, lastHost, lastTls };
  }

  /**
   * Applies the destination's MTA-STS policy (RFC 8461 §4, §5): under `enforce` only the MX hosts
   * the policy lists are tried, each over TLS verified for its MX name; when it lists none of
   * them the mail waits (the policy or the MX records may change), and so does a policy that
   * cannot be read. `testing` and no policy leave the hosts and the TLS policy as they are.
   */
  async #mtaSts(
    destination: string,
    hosts: readonly RouteHost[],
    signal: AbortSignal,
  ): Promise<
    | {
      readonly kind: "hosts";
      readonly hosts: readonly RouteHost[];
      /** Under `testing`: the names of the hosts the policy does not list, to report. */
      readonly unlisted: ReadonlySet<string>;
      readonly verified: boolean;
      readonly decision: MtaStsDecision;
    }
    | Extract<ConnectResult, { kind: "failed" }>
  > {
    let decision: MtaStsDecision;
    try {
      decision = await this.o.mtaSts!.policyFor(destination, signal);
    } catch (err) {
      return mtaStsDeferral(
        `the MTA-STS policy of ${destination} cannot be read now: ${errorText(err)}`,
      );
    }
    const screen = screenMxHosts(decision, hosts, (h) => h.name);
    if (screen.tls !== "verified") {
      const unlisted = new Set(screen.unlisted.map((h) => h.name));
      return { kind: "hosts", hosts, unlisted, verified: false, decision };
    }
    if (screen.hosts.length === 0) {
      const listed = decision.mode === "none" ? [] : decision.policy.mx;
      // The policy prevents the session: still one failed session to report (as
      // relay/tls_rpt/result.ts counts a policy failure), a `validation-failure` (RFC 8460
      // §4.3.3), named after the MX host that would have been tried first.
      const first = hosts[0];
      if (first && decision.mode !== "none") {
        this.#tlsReport({
          domain: destination,
          mxHost: first.name,
          ...(first.addresses[0] !== undefined ? { address: first.addresses[0] } : {}),
          applied: { kind: "mta-sts", mode: decision.mode, policy: decision.policy },
          tlsPolicy: "verified",
          result: "validation-failure",
          tls: false,
          verified: false,
          reason: MX_HOST_MISMATCH,
        });
      }
      return mtaStsDeferral(
        `the MTA-STS policy of ${destination} (enforce) lists none of its MX hosts: ${
          hosts.map((h) => h.name).join(", ")
        } not in ${listed.join(", ")}`,
      );
    }
    return { kind: "hosts", hosts: screen.hosts, unlisted: NONE, verified: true, decision };
  }

  /**
   * DANE for each MX host (RFC 7672 §2.2), or undefined when no host has TLSA records (or none
   * could apply): then the other policies decide.
   */
  async #dane(
    destination: string,
    plan: Extract<RoutePlan, { kind: "hosts" }>,
    signal: AbortSignal,
  ): Promise<Map<string, HostDane> | undefined> {
    const names = [...new Map(plan.hosts.map((h) => [h.name, h])).values()];
    const decided = await Promise.all(
      names.map(async (h) =>
        [h.name, await daneForHost(this.o.dane!.resolver, destination, plan, h, signal)] as const
      ),
    );
    return decided.some(([, d]) => d.kind !== "no-dane") ? new Map(decided) : undefined;
  }

  #tlsReport(report: TlsReport): void {
    try {
      this.o.onTls?.(report);
    } catch {
      // Counting or reporting must not change what happens to the mail.
    }
  }

  #authReport(event: Parameters<SmarthostAuthListener>[0]): void {
    try {
      this.o.smarthostAuth?.(event);
    } catch {
      // An alert that cannot be raised must not change what happens to the mail.
    }
  }
}

/** How every host of one connect is opened: TLS, AUTH, and the static route it came by. */
interface HowToOpen {
  readonly tlsPolicy: TlsPolicy;
  readonly implicitTls: boolean;
  readonly auth: RouteTransport["auth"];
  readonly route: string | undefined;
  /** The recipient domain, for TLS reports. */
  readonly destination: string;
  /** The policy every host gets unless DANE decides otherwise for it. */
  readonly applied: AppliedTls;
  /** DANE per MX host name, when any host has TLSA records. */
  readonly dane: ReadonlyMap<string, HostDane> | undefined;
  /** MX host names a `testing` MTA-STS policy does not list: their sessions are reported. */
  readonly unlisted: ReadonlySet<string>;
}

const NONE: ReadonlySet<string> = new Set();

/** The name the fallback relay goes by where a static route's pattern would be (AUTH alerts). */
export const FALLBACK_ROUTE = "fallbackRelay";

/**
 * The `failure-reason-code` (RFC 8460 §4.4) of a session with an MX host the MTA-STS policy
 * does not list (RFC 8461 §4.1), reported as a `validation-failure`.
 */
export const MX_HOST_MISMATCH = "mx-host-mismatch";

/** A session at the `index`th target, or why no target from the first tried gave one. */
type Walked =
  | {
    readonly kind: "ready";
    readonly session: SmtpSession;
    readonly host: string;
    readonly slot: HostPermit | undefined;
    readonly index: number;
    readonly tlsDetail: TlsDetail;
  }
  | {
    readonly kind: "failed";
    readonly last: FailureResult | undefined;
    readonly lastHost: string | undefined;
    readonly lastTls: TlsDetail | undefined;
  };

/** Opens a session at a target after the `after`th, for a session moving on. */
type NextHost = (after: number, signal: AbortSignal) => Promise<Walked>;

function mtaStsDeferral(why: string): Extract<ConnectResult, { kind: "failed" }> {
  return {
    kind: "failed",
    result: {
      kind: "transient",
      scope: "connection",
      code: 451,
      enhanced: "4.7.5",
      reply: `451 4.7.5 ${LOCAL_REFUSAL} ${why}`,
      local: true,
    },
  };
}

function daneDeferral(why: string): FailureResult {
  return {
    kind: "transient",
    scope: "connection",
    code: 451,
    enhanced: "4.7.5",
    reply: `451 4.7.5 ${LOCAL_REFUSAL} DANE: ${why}`,
    local: true,
  };
}

/** A TLSA record in presentation form (RFC 6698 §2.2), for reports and events. */
function tlsaText(r: TlsaRecord): string {
  const hex = Array.from(r.data, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${r.usage} ${r.selector} ${r.matchingType} ${hex}`;
}

/** What a session's events record of its TLS: the policy, why, and what was reached. */
function tlsDetail(
  applied: AppliedTls,
  tlsPolicy: TlsPolicy,
  session: { readonly tls: boolean; readonly tlsVerified: boolean },
): TlsDetail {
  const policy = applied.kind === "mta-sts"
    ? `mta-sts ${applied.mode}`
    : applied.kind === "none"
    ? tlsPolicy
    : applied.kind;
  const reason = applied.kind === "dane"
    ? `DNSSEC-secure TLSA records at ${applied.tlsaName}`
    : applied.kind === "mta-sts"
    ? `MTA-STS policy id ${applied.policy.id} of ${applied.policy.domain}`
    : applied.kind === "route"
    ? `static route ${applied.pattern}`
    : `the destination's TLS policy (${tlsPolicy})`;
  return { policy, reason, tls: session.tls, verified: session.tls && session.tlsVerified };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The actors' session over one SMTP session, which may move on to the route's next host: when a
 * transaction is refused for the time being as a whole (every recipient gets a 4xx at RCPT,
 * MAIL or DATA, none of it a throttle), the same transaction goes to the next host at once, and
 * the session stays there for the transactions that follow. RFC 5321 §5.1: the client tries the
 * addresses of the list "in order, until a delivery attempt succeeds"; a backup MX that takes
 * the mail while the primary's storage or directory is down is what the list is for. A throttle
 * is not passed on: another MX host of the same receiver shares its counters (relay/smtp's
 * throttle table), and a mixed answer (some recipients taken) is about those recipients.
 */
class SessionAdapter implements Session {
  #smtp: SmtpSession;
  #host: string;
  /** The host's connection slot, given back when the session closes or moves on. */
  #slot: HostPermit | undefined;
  /** Which of the connect's targets the session is at. */
  #index: number;
  readonly #firstHost: string;
  readonly #wantedListeners: (() => void)[] = [];

  constructor(
    at: Extract<Walked, { kind: "ready" }>,
    readonly messages: MessageSource,
    readonly envelopeSender: ((delivery: Delivery) => string) | undefined,
    readonly next: NextHost | undefined,
  ) {
    this.#smtp = at.session;
    this.#host = at.host;
    this.#firstHost = at.host;
    this.#slot = at.slot;
    this.#index = at.index;
    this.#tlsDetail = at.tlsDetail;
  }

  #tlsDetail: TlsDetail;

  /** How TLS was decided on the host the session is at now. */
  get tlsDetail(): TlsDetail {
    return this.#tlsDetail;
  }

  get mxHost(): string {
    return this.#host;
  }

  get wanted(): boolean {
    return this.#slot?.wanted ?? false;
  }

  onWanted(listener: () => void): void {
    this.#wantedListeners.push(listener);
    this.#slot?.onWanted(listener);
  }

  get tls(): boolean {
    return this.#smtp.tls;
  }

  get usable(): boolean {
    return this.#smtp.usable;
  }

  async send(
    outboxId: number,
    recipients: readonly Delivery[],
    signal: AbortSignal,
  ): Promise<RecipientResult[]> {
    let message;
    /** One copy per recipient (one-click unsubscribe tokens), made before anything is sent. */
    let copies: Uint8Array[] | undefined;
    try {
      message = await this.messages.get(outboxId);
      if (message.kind === "ready" && message.forRecipient) {
        const forRecipient = message.forRecipient;
        copies = await Promise.all(recipients.map((r) => forRecipient(r)));
      }
    } catch (err) {
      // Before MAIL FROM: nothing went out. The actor keeps the recipients for a later try.
      throw new NothingSentError(
        `ferry: cannot read message ${outboxId}: ${err instanceof Error ? err.message : err}`,
        { cause: err },
      );
    }
    if (message.kind === "invalid") {
      return recipients.map(() => ({
        kind: "permanent",
        scope: "message",
        code: 554,
        enhanced: "5.6.0",
        reply: `554 5.6.0 ${LOCAL_REFUSAL} ${message.reason}`,
        local: true,
      }));
    }
    // The client has no signal of its own: closing the connection ends a transaction at once.
    const onAbort = () => this.#smtp.close();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const results: RecipientResult[] = new Array(recipients.length);
      const groups = bySender(recipients, message.sender, this.envelopeSender);
      // Copies that differ go in a transaction each: one DATA carries one set of bytes.
      const transactions = copies
        ? groups.flatMap((g) => g.indices.map((i) => ({ sender: g.sender, indices: [i] })))
        : groups;
      for (const group of transactions) {
        const bytes = copies ? copies[group.indices[0]!]! : message.bytes;
        const copy = { bytes, requireTls: message.requireTls };
        const send = () => this.#transact(group.sender, group.indices, recipients, copy);
        let outcomes = await send();
        while (outcomes.every(elsewhere) && !signal.aborted && await this.#moveOn(signal)) {
          outcomes = await send();
        }
        const moved = this.#host !== this.#firstHost;
        outcomes.forEach((o, k) => {
          const result = toResult(o);
          // Said by a host other than the one the actor connected to: the record names it.
          results[group.indices[k]!] = moved ? { ...result, mxHost: this.#host } : result;
        });
      }
      return results;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** One envelope's transactions on the current host: an outcome per index, in order. */
  async #transact(
    sender: string,
    indices: readonly number[],
    recipients: readonly Delivery[],
    message: { readonly bytes: Uint8Array; readonly requireTls?: boolean },
  ): Promise<Outcome[]> {
    const outcomes = new Map<number, Outcome>();
    // After a broken connection or an abort, the session answers every later transaction at
    // once with a connection-scope transient failure: nothing is sent, nothing lost.
    let pending = [...indices];
    while (pending.length > 0) {
      const replies = await this.#smtp.send({
        mailFrom: sender,
        recipients: pending.map((i) => recipients[i]!.recipient),
        message: message.bytes,
        ...(pending.some((i) => recipients[i]!.smtputf8) ? { smtputf8: true } : {}),
        // Checked by the session per message, so one that cannot honour REQUIRETLS bounces
        // this message (Ferry's own refusal, 5.7.10 or 5.7.30) and still carries the others.
        ...(message.requireTls ? { requireTls: true } : {}),
      });
      replies.forEach((r, k) => outcomes.set(pending[k]!, r.outcome));
      // RFC 5321 §4.5.3.1.10: recipients refused with "too many recipients" (452, or 552 from
      // older servers) go in a following transaction at once, not a later attempt; only while
      // the last transaction took some, so a peer refusing all cannot loop.
      const again = pending.filter((_, k) => tooManyRecipients(replies[k]!.outcome));
      pending = again.length < pending.length ? again : [];
    }
    return indices.map((i) => outcomes.get(i)!);
  }

  /** Opens the route's next host that answers and moves there; false when none does. */
  async #moveOn(signal: AbortSignal): Promise<boolean> {
    if (!this.next) return false;
    const walked = await this.next(this.#index, signal);
    if (walked.kind !== "ready") return false;
    const [smtp, slot] = [this.#smtp, this.#slot];
    this.#smtp = walked.session;
    this.#host = walked.host;
    this.#slot = walked.slot;
    this.#index = walked.index;
    this.#tlsDetail = walked.tlsDetail;
    for (const listener of this.#wantedListeners) walked.slot?.onWanted(listener);
    await quit(smtp);
    slot?.release();
    return true;
  }

  async close(): Promise<void> {
    try {
      await quit(this.#smtp);
    } finally {
      this.#slot?.release();
    }
  }
}

/** QUIT and close; never throws. */
async function quit(smtp: SmtpSession): Promise<void> {
  try {
    await smtp.quit();
  } catch {
    smtp.close();
  }
}

/**
 * A refusal another host of the route may not share: a 4xx from the peer about this recipient
 * or message (not the connection, which has its own handling), and not a throttle.
 */
function elsewhere(o: Outcome): boolean {
  return o.kind === "transient" && o.source === "peer" && o.scope !== "connection" &&
    o.throttle === undefined;
}

/** 452 (or 552) to RCPT, except a full mailbox (x.2.x, RFC 3463): that one waits. */
function tooManyRecipients(o: Outcome): boolean {
  return o.kind === "transient" && o.scope === "recipient" &&
    (o.code === 452 || o.code === 552) && !/^\d\.2\./.test(o.enhanced ?? "");
}

/** Recipients grouped by envelope sender, in first-seen order; one group without VERP. */
function bySender(
  recipients: readonly Delivery[],
  from: string,
  envelopeSender: ((delivery: Delivery) => string) | undefined,
): { sender: string; indices: number[] }[] {
  const groups = new Map<string, number[]>();
  recipients.forEach((r, i) => {
    const sender = envelopeSender ? envelopeSender(r) : from;
    const group = groups.get(sender);
    if (group) group.push(i);
    else groups.set(sender, [i]);
  });
  return [...groups].map(([sender, indices]) => ({ sender, indices }));
}

function toResult(o: Outcome): RecipientResult {
  if (o.kind === "delivered") return { kind: "delivered", code: o.code, reply: describeOutcome(o) };
  return toFailure(o);
}

/** The reply text of a refusal Ferry made itself, so nobody takes it for a receiver's. */
export const LOCAL_REFUSAL = "refused by Ferry, not by the receiver:";

function toFailure(o: Failure): FailureResult {
  // A local permanent failure is Ferry's own refusal (a message it cannot send as it is); local
  // transients (timeouts, refused connections) are facts about the host and keep it.
  const refusal = o.source === "local" && o.kind === "permanent";
  const base = {
    scope: o.scope,
    code: o.code,
    reply: refusal
      ? describeOutcome({ ...o, text: `${LOCAL_REFUSAL} ${o.text}` })
      : describeOutcome(o),
    ...(o.enhanced ? { enhanced: o.enhanced } : {}),
    ...(refusal ? { local: true } : {}),
  };
  return o.kind === "transient"
    ? {
      kind: "transient",
      ...base,
      ...(o.retryAfterMs !== undefined ? { retryAfterMs: o.retryAfterMs } : {}),
      // Only a throttle of our traffic slows the destination; one mailbox's limit is that
      // recipient's deferral alone (relay/smtp/throttle.ts).
      ...(o.throttle === "sender" ? { slowDown: true } : {}),
    }
    : { kind: "permanent", ...base };
}

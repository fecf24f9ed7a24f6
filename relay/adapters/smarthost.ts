/**
 * What a static route adds to host and port (relay/config/routes.ts): its transport (implicit
 * TLS or STARTTLS, with or without a certificate check) and SMTP AUTH credentials, looked up by
 * the pattern the route plan names. And the small port through which the deliverer says how AUTH
 * through a route went, so an alert can follow it without the adapters knowing about alerts.
 *
 * Refused credentials are the operator's mistake, not the receiver's verdict on the mail: the
 * failure is made transient with a reply that says which smarthost refused which user, so the
 * route's mail is deferred (never bounced) and the cause is plain in `last_reply`.
 *
 * @module
 */
import { type Credentials, describeOutcome, type Failure } from "../smtp/mod.ts";
import type { TlsPolicy } from "../tls/mod.ts";

/** How to reach one route's host. */
export interface RouteTransport {
  /**
   * `starttls`: STARTTLS required; `implicit`: TLS from the first byte (RFC 8314). Absent: the
   * destination's TLS policy, as for an MX host.
   */
  readonly tls?: "starttls" | "implicit";
  /** With `tls`: check the certificate chain and name (default true). */
  readonly verify?: boolean;
  /** SMTP AUTH after TLS; the handshake refuses to send it on an unencrypted connection. */
  readonly auth?: Credentials;
}

/** The outcome of one AUTH through a route, for the `smarthost_auth_failed` alert. */
export type SmarthostAuthEvent =
  | {
    readonly kind: "accepted";
    /** The route's pattern. */
    readonly route: string;
    readonly host: string;
    readonly username: string;
  }
  | {
    readonly kind: "refused";
    readonly route: string;
    readonly host: string;
    readonly username: string;
    /** The reply recorded on the deferred mail (never the password). */
    readonly reply: string;
  };

/** Told every AUTH outcome through a route; must not throw (composition wires the alerts). */
export type SmarthostAuthListener = (event: SmarthostAuthEvent) => void;

/** The TLS policy and the implicit-TLS flag a route's transport asks for. */
export function routeTls(
  transport: RouteTransport | undefined,
  policy: TlsPolicy,
): { readonly tlsPolicy: TlsPolicy; readonly implicitTls: boolean } {
  if (!transport?.tls) return { tlsPolicy: policy, implicitTls: false };
  return {
    tlsPolicy: transport.verify === false ? "required" : "verified",
    implicitTls: transport.tls === "implicit",
  };
}

/**
 * The transient failure recorded when the AUTH step failed, or undefined when it should pass as
 * the server said it (a 4xx: the server's own trouble, e.g. its password backend is down,
 * says nothing about the credentials).
 */
export function authFailure(
  failure: Failure,
  host: string,
  username: string,
): { readonly code: number; readonly enhanced: string; readonly reply: string } | undefined {
  const said = describeOutcome(failure).replaceAll("\n", " ");
  if (failure.source === "local") {
    // No mechanism in common: the route points at a host that does not take our AUTH.
    return {
      code: 451,
      enhanced: "4.7.0",
      reply: `451 4.7.0 smarthost ${host} cannot authenticate user ${username}: ${failure.text}`,
    };
  }
  if (failure.code < 500) return undefined;
  // RFC 4954 §6: 535 5.7.8 is "authentication credentials invalid"; other 5xx (534 mechanism too
  // weak, 538 encryption required) keep their detail, each as a transient of the same class.
  const enhanced = failure.code === 535
    ? "4.7.8"
    : failure.enhanced?.replace(/^5\./, "4.") ?? "4.7.0";
  const what = failure.code === 535 ? "refused the credentials" : "refused AUTH";
  return {
    code: 451,
    enhanced,
    reply: `451 ${enhanced} smarthost ${host} ${what} for user ${username}: ${said}`,
  };
}

/**
 * Opening a session on a connected stream: greeting, EHLO (HELO fallback), STARTTLS by policy
 * and a fresh EHLO after it, then AUTH when configured (RFC 5321 §3.1, §4.1.1.1; RFC 3207;
 * RFC 4954). Returns a ready session or a classified connection-scope failure, never throws for
 * anything the peer does.
 *
 * @module
 */
import { withTimeout } from "../../lib/clock.ts";
import {
  type ByteStream,
  decideTls,
  startTls as defaultStartTls,
  type TlsFailureType,
  tlsFailureType,
  tlsRequired,
} from "../tls/mod.ts";
import { authenticate } from "./auth.ts";
import { type Capabilities, HELO_CAPABILITIES, parseEhlo } from "./capabilities.ts";
import { Channel } from "./channel.ts";
import type { SessionOptions } from "./options.ts";
import { type Failure, failureFrom, localTransient } from "./outcome.ts";
import { protocolError, SessionBrokenError } from "./session_error.ts";
import { SmtpSession } from "./session.ts";
import { resolveTimeouts } from "./timeouts.ts";

/**
 * A ready session, or why there is none. `stage: "auth"` marks a failure of the AUTH step
 * itself (the peer refused the credentials, or offers no mechanism Ferry speaks), as opposed to
 * the connection, TLS or greeting: the caller's fix is its credentials, not the network.
 */
export type OpenResult =
  | { readonly kind: "ready"; readonly session: SmtpSession }
  | {
    readonly kind: "failed";
    readonly failure: Failure;
    readonly stage?: "auth";
    /** Set when TLS itself failed: what kind of failure (RFC 8460 §4.3.2). */
    readonly tls?: TlsFailureType;
  };

/**
 * Runs the opening dialogue on `stream`. On failure the stream is closed (after a polite QUIT
 * when the peer is still talking).
 */
export async function openSession(
  stream: ByteStream,
  options: SessionOptions,
): Promise<OpenResult> {
  // RFC 5321 §4.1.1.1: a domain or an address literal, printable ASCII without spaces.
  if (!/^[!-~]+$/.test(options.heloName)) {
    throw new RangeError(
      `Cannot open an SMTP session as 'heloName' must be a host name: current value is ${
        JSON.stringify(options.heloName)
      }`,
    );
  }
  const channel = new Channel(
    stream,
    options.clock,
    resolveTimeouts(options.timeouts),
    options.trace,
  );
  // A cut closes whichever stream the channel holds then (plain, or TLS after STARTTLS): that
  // ends the read or write waiting on it at once.
  const cut = () => channel.close();
  options.signal?.addEventListener("abort", cut, { once: true });
  if (options.signal?.aborted) cut();
  try {
    const outcome = await handshake(channel, options);
    if (outcome.kind === "ready") {
      channel.idle();
      return outcome;
    }
    await quitQuietly(channel);
    return outcome;
  } catch (err) {
    channel.close();
    if (err instanceof SessionBrokenError) return { kind: "failed", failure: err.failure };
    throw err;
  } finally {
    options.signal?.removeEventListener("abort", cut);
  }
}

async function handshake(channel: Channel, options: SessionOptions): Promise<OpenResult> {
  // RFC 5321 §3.1: 220 opens the session; 554 (or any other reply) refuses it.
  const greeting = await channel.readReply("greeting");
  if (greeting.code !== 220) return failed(failureFrom(greeting, "connection"));

  let ehlo = await hello(channel, options.heloName);
  if (ehlo.kind === "failed") return ehlo;
  let caps = ehlo.caps;
  let encrypted = options.implicitTls === true;
  // Implicit TLS was verified by connectSmtp() under the same rule (policy `verified`).
  let verified = encrypted && options.tlsPolicy === "verified";

  if (!encrypted) {
    const policy = options.tlsPolicy ?? "opportunistic";
    const memory = options.brokenTls;
    const decision = decideTls(policy, {
      offered: caps.startTls,
      rememberedBroken: memory?.isBroken(options.peerName) ?? false,
    });
    if (decision.kind === "refuse") {
      return tlsFailed(
        "starttls-not-supported",
        localTransient(
          "connection",
          451,
          "4.7.4",
          `TLS is required (policy '${policy}') but ${options.peerName} does not offer STARTTLS`,
        ),
      );
    }
    if (decision.kind === "plaintext") {
      channel.note(`no STARTTLS: ${decision.reason}`);
    } else {
      await channel.writeLines("starttls", ["STARTTLS"]);
      const reply = await channel.readReply("starttls");
      if (reply.code === 220) {
        // RFC 3207 §4.2 / CVE-2011-0411: bytes sent before the handshake would be taken as
        // encrypted-session input by a careless client. Refuse to go on.
        if (channel.buffered > 0) {
          throw protocolError("starttls", "the peer sent data after its 220 to STARTTLS", "");
        }
        const failure = await upgrade(channel, options, decision.verify);
        if (failure) {
          return failure.type ? tlsFailed(failure.type, failure.failure) : failed(failure.failure);
        }
        memory?.forget(options.peerName);
        encrypted = true;
        verified = decision.verify;
        // RFC 3207 §4.2: forget everything learnt before TLS and ask again.
        ehlo = await hello(channel, options.heloName);
        if (ehlo.kind === "failed") return ehlo;
        caps = ehlo.caps;
      } else if (reply.code === 421) {
        return failed(asTransient(failureFrom(reply, "connection")));
      } else if (tlsRequired(policy)) {
        return tlsFailed("starttls-not-supported", asTransient(failureFrom(reply, "connection")));
      } else {
        // RFC 3207 §4: after a refused STARTTLS the client may go on without TLS.
        channel.note(`STARTTLS refused with ${reply.code}: continuing without TLS`);
      }
    }
  }

  if (options.auth) {
    if (!encrypted) {
      return failed(localTransient(
        "connection",
        451,
        "4.7.11",
        `refusing to send AUTH credentials to ${options.peerName} over an unencrypted connection`,
      ));
    }
    const failure = await authenticate(channel, caps, options.auth);
    if (failure) return { kind: "failed", failure, stage: "auth" };
  }
  return {
    kind: "ready",
    session: new SmtpSession(channel, caps, {
      peerName: options.peerName,
      tls: encrypted,
      tlsVerified: verified,
      pipelining: options.pipelining ?? true,
    }),
  };
}

type Hello = { readonly kind: "ok"; readonly caps: Capabilities } | {
  readonly kind: "failed";
  readonly failure: Failure;
};

/** EHLO, or HELO when EHLO is refused as unknown (RFC 5321 §3.2, §4.1.4). */
async function hello(channel: Channel, name: string): Promise<Hello> {
  await channel.writeLines("ehlo", [`EHLO ${name}`]);
  const ehlo = await channel.readReply("ehlo");
  if (ehlo.code === 250) return { kind: "ok", caps: parseEhlo(ehlo) };
  if (ehlo.code < 500) return failed(failureFrom(ehlo, "connection"));
  channel.note(`EHLO refused with ${ehlo.code}: falling back to HELO`);
  await channel.writeLines("ehlo", [`HELO ${name}`]);
  const helo = await channel.readReply("ehlo");
  if (helo.code === 250) return { kind: "ok", caps: HELO_CAPABILITIES };
  return failed(failureFrom(helo, "connection"));
}

/** Runs the TLS handshake; on failure remembers an unverified peer as broken. */
async function upgrade(
  channel: Channel,
  options: SessionOptions,
  verify: boolean,
): Promise<{ readonly failure: Failure; readonly type?: TlsFailureType } | undefined> {
  const start = options.startTls ?? defaultStartTls;
  const ms = channel.timeouts.starttls;
  const cut = options.signal;
  try {
    const tls = await withTimeout(
      channel.clock,
      ms,
      "TLS handshake",
      (signal) =>
        start(channel.stream, {
          hostname: options.peerName,
          verify,
          caCerts: options.caCerts,
          signal: cut ? AbortSignal.any([signal, cut]) : signal,
        }),
    );
    if (cut?.aborted) {
      // Cut as the handshake ended: the channel (closed by the cut) never held this stream.
      tls.close();
      return { failure: stopped(options.peerName) };
    }
    channel.replaceStream(tls);
    channel.note(`TLS established${verify ? " (verified)" : ""}`);
    return undefined;
  } catch (err) {
    // The plain stream was handed to the upgrade: it is consumed or closed either way.
    channel.close();
    // Stopped by us, not failed by the peer: nothing to report about its TLS (RFC 8460 §4.3
    // counts the peer's failures) nor to remember about it.
    if (cut?.aborted) return { failure: stopped(options.peerName) };
    const why = err instanceof Error ? err.message : String(err);
    // A verification failure says nothing about the handshake itself: only unverified failures
    // are remembered, so opportunistic sessions can skip TLS with that peer for a while.
    if (!verify) options.brokenTls?.remember(options.peerName, why);
    return {
      type: tlsFailureType(why),
      failure: localTransient(
        "connection",
        451,
        "4.7.5",
        `TLS handshake with ${options.peerName} failed: ${why}`,
      ),
    };
  }
}

function stopped(peer: string): Failure {
  return localTransient("connection", 451, "4.4.1", `the TLS handshake with ${peer} was stopped`);
}

function failed(failure: Failure): { readonly kind: "failed"; readonly failure: Failure } {
  return { kind: "failed", failure };
}

function tlsFailed(type: TlsFailureType, failure: Failure): OpenResult {
  return { kind: "failed", failure, tls: type };
}

function asTransient(failure: Failure): Failure {
  return failure.kind === "permanent" ? { ...failure, kind: "transient" } : failure;
}

async function quitQuietly(channel: Channel): Promise<void> {
  if (channel.closed) return;
  try {
    await channel.writeLines("quit", ["QUIT"]);
    await channel.readReply("quit");
  } catch {
    // The session is over either way.
  } finally {
    channel.close();
  }
}

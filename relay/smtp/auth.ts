/**
 * SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) or LOGIN, for relaying through a smarthost. The
 * caller checks that the channel is encrypted first: credentials never cross in the clear.
 * Transcript lines that carry credentials are redacted.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Secret } from "../../lib/secret.ts";
import type { Capabilities } from "./capabilities.ts";
import type { Channel } from "./channel.ts";
import { type Failure, failureFrom, localTransient } from "./outcome.ts";
import { REDACTED } from "./trace.ts";

/** Credentials for a smarthost. */
export interface Credentials {
  readonly username: string;
  /** A {@link Secret} keeps it out of logs and dumps of the options; revealed only to encode it. */
  readonly password: string | Secret;
  /** Force a mechanism; by default PLAIN when offered, else LOGIN. */
  readonly mechanism?: "PLAIN" | "LOGIN";
}

/**
 * Authenticates; resolves to `undefined` on 235, else to a connection-scope failure. Rejected
 * credentials (535) are transient like Postfix's default `smtp_sasl_auth_soft_bounce = yes`: a
 * wrong password is an operator's mistake to fix, not a reason to bounce the queue.
 */
export async function authenticate(
  channel: Channel,
  caps: Capabilities,
  credentials: Credentials,
): Promise<Failure | undefined> {
  const mechanism = credentials.mechanism ??
    (caps.auth.includes("PLAIN") ? "PLAIN" : caps.auth.includes("LOGIN") ? "LOGIN" : undefined);
  if (!mechanism || !caps.auth.includes(mechanism)) {
    return localTransient(
      "connection",
      451,
      "4.7.0",
      `cannot authenticate: the peer offers AUTH ${
        caps.auth.join(" ") || "(nothing)"
      }, Ferry needs PLAIN or LOGIN`,
    );
  }
  const password = typeof credentials.password === "string"
    ? credentials.password
    : credentials.password.reveal();
  let reply;
  if (mechanism === "PLAIN") {
    const token = base64(`\u0000${credentials.username}\u0000${password}`);
    await channel.writeLines("auth", [`AUTH PLAIN ${token}`], [`AUTH PLAIN ${REDACTED}`]);
    reply = await channel.readReply("auth");
    // RFC 4954 §4: a server may still ask with an empty 334 challenge; answer with the same token.
    if (reply.code === 334) {
      await channel.writeLines("auth", [token], [REDACTED]);
      reply = await channel.readReply("auth");
    }
  } else {
    await channel.writeLines("auth", ["AUTH LOGIN"]);
    reply = await channel.readReply("auth");
    for (const secret of [credentials.username, password]) {
      if (reply.code !== 334) break;
      await channel.writeLines("auth", [base64(secret)], [REDACTED]);
      reply = await channel.readReply("auth");
    }
  }
  if (reply.code === 235) return undefined;
  const failure = failureFrom(reply, "connection");
  return failure.kind === "permanent" ? { ...failure, kind: "transient" } : failure;
}

function base64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

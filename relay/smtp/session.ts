/**
 * A ready SMTP session: one connection, reused for many transactions until the peer or a
 * failure closes it. It knows nothing about queues: the caller hands it envelopes and gets one
 * outcome per recipient back.
 *
 * @module
 */
import type { Capabilities } from "./capabilities.ts";
import type { Channel } from "./channel.ts";
import type { Envelope } from "./envelope.ts";
import {
  type Failure,
  failureFrom,
  localTransient,
  type Outcome,
  type RecipientOutcome,
} from "./outcome.ts";
import { preflight } from "./preflight.ts";
import { SessionBrokenError } from "./session_error.ts";
import { runTransaction } from "./transaction.ts";

/** Facts about the session fixed during the opening dialogue. */
export interface SessionInfo {
  readonly peerName: string;
  /** The connection is encrypted (STARTTLS or implicit TLS). */
  readonly tls: boolean;
  /**
   * The TLS handshake authenticated the peer: its chain and host name were verified (RFC 6125),
   * because the session's policy was `verified`. Whoever demands verification (a destination's
   * configured policy, an MTA-STS policy in enforce mode, a smarthost route that checks its
   * certificate; DANE, should it come) sets it by asking for that policy, so the handshake
   * verifies. REQUIRETLS (RFC 8689 §4.2.1) sends only over such a session.
   */
  readonly tlsVerified: boolean;
  /** Pipeline when the peer offers it. */
  readonly pipelining: boolean;
}

/** An open session; create one with `openSession()` or `connectSmtp()`. */
export class SmtpSession implements AsyncDisposable {
  readonly #channel: Channel;
  readonly #caps: Capabilities;
  readonly #info: SessionInfo;
  #busy = false;
  #needsReset = false;
  #transactions = 0;

  constructor(channel: Channel, caps: Capabilities, info: SessionInfo) {
    this.#channel = channel;
    this.#caps = caps;
    this.#info = info;
  }

  /** What the peer announced in its (last) EHLO reply. */
  get capabilities(): Capabilities {
    return this.#caps;
  }

  /** The peer's host name. */
  get peerName(): string {
    return this.#info.peerName;
  }

  /** Whether the connection is encrypted. */
  get tls(): boolean {
    return this.#info.tls;
  }

  /** Whether the connection is encrypted and the peer's certificate was verified. */
  get tlsVerified(): boolean {
    return this.#info.tls && this.#info.tlsVerified;
  }

  /** Whether another transaction can be started: the connection is open and not in use. */
  get usable(): boolean {
    return !this.#channel.closed && !this.#busy;
  }

  /** Transactions that reached their final reply on this connection. */
  get transactions(): number {
    return this.#transactions;
  }

  /**
   * Sends one message to one or more recipients in one transaction. Resolves to one outcome per
   * recipient, in the order given; never rejects for anything the peer or the network does.
   */
  async send(envelope: Envelope): Promise<RecipientOutcome[]> {
    if (envelope.recipients.length === 0) {
      throw new RangeError(
        "Cannot send a message as 'recipients' must not be empty: current value is []",
      );
    }
    if (this.#busy) {
      throw new Error(
        "Cannot send a message as another transaction is in progress on this session",
      );
    }
    if (this.#channel.closed) return everyone(envelope, closedFailure());

    const plan = preflight(envelope, this.#caps, {
      peerName: this.#info.peerName,
      tls: this.tls,
      tlsVerified: this.tlsVerified,
    });
    if ("kind" in plan) return everyone(envelope, plan);
    if (plan.send.length === 0) {
      return envelope.recipients.map((r) => ({ recipient: r, outcome: plan.failed.get(r)! }));
    }

    this.#busy = true;
    try {
      const result = await runTransaction(
        this.#channel,
        plan,
        envelope.mailFrom,
        envelope.message,
        {
          pipelining: this.#info.pipelining && this.#caps.pipelining,
          reset: this.#needsReset,
          chunking: this.#caps.chunking,
        },
      );
      this.#needsReset = !result.complete;
      if (result.complete) this.#transactions++;
      return envelope.recipients.map((recipient) => ({
        recipient,
        outcome: plan.failed.get(recipient) ?? result.outcomes.get(recipient) ?? closedFailure(),
      }));
    } finally {
      this.#busy = false;
      this.#channel.idle();
    }
  }

  /**
   * RSET (RFC 5321 §4.1.1.5): abandons any transaction state. Resolves to `undefined` when the
   * session is ready again, else to the (connection-scope) failure that closed it.
   */
  async reset(): Promise<Failure | undefined> {
    if (this.#busy) throw new Error("Cannot reset as a transaction is in progress on this session");
    if (this.#channel.closed) return closedFailure();
    this.#busy = true;
    try {
      await this.#channel.writeLines("rset", ["RSET"]);
      const reply = await this.#channel.readReply("rset");
      if (reply.code >= 200 && reply.code < 300) {
        this.#needsReset = false;
        return undefined;
      }
      this.#channel.close();
      const failure = failureFrom(reply, "connection");
      return { ...failure, kind: "transient", scope: "connection" };
    } catch (err) {
      if (err instanceof SessionBrokenError) return err.failure;
      throw err;
    } finally {
      this.#busy = false;
      this.#channel.idle();
    }
  }

  /** QUIT (RFC 5321 §4.1.1.10), waiting briefly for 221, then closes. Never rejects. */
  async quit(): Promise<void> {
    if (this.#channel.closed) return;
    try {
      await this.#channel.writeLines("quit", ["QUIT"]);
      await this.#channel.readReply("quit");
    } catch {
      // Closing anyway.
    } finally {
      this.#channel.close();
    }
  }

  /** Closes the connection without QUIT (e.g. on shutdown with a transaction in flight). */
  close(): void {
    this.#channel.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#busy) this.close();
    else await this.quit();
  }
}

function everyone(envelope: Envelope, outcome: Outcome): RecipientOutcome[] {
  return envelope.recipients.map((recipient) => ({ recipient, outcome }));
}

function closedFailure(): Failure {
  return localTransient("connection", 451, "4.4.2", "the SMTP session is closed");
}

/**
 * One mail transaction: MAIL, RCPT for each recipient, DATA, the content and its final reply
 * (RFC 5321 §3.3), pipelined when the peer offers PIPELINING (RFC 2920), each recipient ending
 * with its own outcome.
 *
 * When the peer offers CHUNKING (RFC 3030), the content goes as one `BDAT <size> LAST` chunk
 * instead of DATA: no 354 to wait for, so with PIPELINING the whole transaction (envelope,
 * chunk) is one write and one wait for the replies, where DATA needs two of each (RFC 2920 §3.1:
 * DATA ends a group, the content must wait for 354). The chunk is counted, so there is no
 * dot-stuffing and no terminator: the same octets arrive, without a second scan of the message.
 *
 * @module
 */
import type { Channel } from "./channel.ts";
import { crlfContent, encodeData } from "./data_encoder.ts";
import { writeChunks } from "./data_writer.ts";
import { mailCommand, rcptCommand } from "./envelope.ts";
import { deliveredFrom, type Failure, failureFrom, type Outcome } from "./outcome.ts";
import type { Plan } from "./preflight.ts";
import type { Reply } from "./reply.ts";
import { SessionBrokenError } from "./session_error.ts";
import type { Phase } from "./timeouts.ts";

/** How a transaction ended. */
export interface TransactionResult {
  /** One outcome per planned recipient. */
  readonly outcomes: ReadonlyMap<string, Outcome>;
  /**
   * The transaction reached its final reply, which resets the server's state (RFC 5321
   * §4.1.1.4); otherwise the next transaction starts with RSET.
   */
  readonly complete: boolean;
}

/** Runs a transaction; connection failures end up in the outcomes, never thrown. */
export async function runTransaction(
  channel: Channel,
  plan: Plan,
  mailFrom: string,
  message: Uint8Array,
  options: {
    readonly pipelining: boolean;
    readonly reset: boolean;
    /** The peer offers CHUNKING (RFC 3030): send the content with BDAT, not DATA. */
    readonly chunking?: boolean;
  },
): Promise<TransactionResult> {
  const outcomes = new Map<string, Outcome>();
  const failPending = (failure: Failure) => {
    for (const r of plan.send) if (!outcomes.has(r)) outcomes.set(r, failure);
  };
  const chunk = options.chunking ? crlfContent(message, plan.scan.canonical) : undefined;
  const envelope = [
    ...(options.reset ? ["RSET"] : []),
    mailCommand(mailFrom, plan.params),
    ...plan.send.map(rcptCommand),
  ];
  // Pipelined, BDAT and its chunk go with the envelope (RFC 3030 §4.2); in lock-step they are
  // only sent once a recipient was accepted.
  const commands = chunk === undefined
    ? [...envelope, "DATA"]
    : options.pipelining
    ? [...envelope, bdatCommand(chunk)]
    : envelope;
  const exchange = new Exchange(channel, options.pipelining, commands, chunk);
  try {
    const complete = await converse(
      channel,
      exchange,
      plan,
      chunk === undefined ? { data: message } : { chunk },
      outcomes,
      failPending,
    );
    await exchange.finish();
    return { outcomes, complete };
  } catch (err) {
    await exchange.finish().catch(() => undefined);
    if (!(err instanceof SessionBrokenError)) throw err;
    failPending(err.failure);
    return { outcomes, complete: false };
  }
}

/** The content: for DATA (dot-stuffed on the way), or as the one BDAT chunk. */
type Content = { readonly data: Uint8Array } | { readonly chunk: Uint8Array };

/** RFC 3030 §2: the whole message as one last chunk. */
function bdatCommand(chunk: Uint8Array): string {
  return `BDAT ${chunk.length} LAST`;
}

async function converse(
  channel: Channel,
  exchange: Exchange,
  plan: Plan,
  content: Content,
  outcomes: Map<string, Outcome>,
  failPending: (failure: Failure) => void,
): Promise<boolean> {
  // A connection-scope failure (421, protocol error) ends the session: close and stop here.
  const fatal = (failure: Failure): false => {
    channel.close();
    failPending(failure);
    return false;
  };
  if (exchange.resetting) {
    const rset = await exchange.next("rset");
    if (!positive(rset)) return fatal(asConnectionFailure(rset));
  }
  const mail = await exchange.next("mail");
  const mailFailure = positive(mail) ? undefined : failureFrom(mail, "message");
  if (mailFailure?.scope === "connection") return fatal(mailFailure);

  const accepted: string[] = [];
  for (const recipient of plan.send) {
    if (mailFailure && !exchange.pipelined) break;
    const reply = await exchange.next("rcpt");
    if (mailFailure) {
      // Pipelined RCPTs after a refused MAIL get "503 need MAIL": the MAIL reply is the reason.
      if (reply.code === 421) return fatal(failureFrom(reply, "connection"));
      continue;
    }
    if (positive(reply)) {
      accepted.push(recipient);
      continue;
    }
    const failure = rcptFailure(reply);
    if (failure.scope === "connection") return fatal(failure);
    outcomes.set(recipient, failure);
  }
  if (mailFailure || accepted.length === 0) {
    if (mailFailure) failPending(mailFailure);
    if (!exchange.pipelined) return false;
    if ("data" in content) await abandonData(channel, await exchange.next("dataInit"));
    else {
      // The peer read the chunk and refused it (RFC 3030 §2: no valid recipients): only a
      // 421 says more than the replies already read.
      const refused = await exchange.next("dataEnd");
      if (refused.code === 421) return fatal(failureFrom(refused, "connection"));
    }
    return false;
  }

  let end: Reply;
  if ("chunk" in content) {
    if (!exchange.pipelined) {
      await channel.writeLinesWithContent("dataBlock", [bdatCommand(content.chunk)], content.chunk);
    }
    end = exchange.pipelined ? await exchange.next("dataEnd") : await channel.readReply("dataEnd");
  } else {
    const sent = await sendData(channel, exchange, content.data, fatal, failPending);
    if (!sent) return false;
    end = sent;
  }
  if (positive(end)) {
    const delivered = deliveredFrom(end);
    for (const r of accepted) outcomes.set(r, delivered);
    return true;
  }
  const failure = failureFrom(end, "message");
  if (failure.scope === "connection") return fatal(failure);
  failPending(failure);
  return true;
}

/** DATA, its 354, the dot-stuffed content: the final reply, or undefined when refused. */
async function sendData(
  channel: Channel,
  exchange: Exchange,
  message: Uint8Array,
  fatal: (failure: Failure) => false,
  failPending: (failure: Failure) => void,
): Promise<Reply | undefined> {
  const data = await exchange.next("dataInit");
  if (data.code !== 354) {
    const failure = failureFrom(data, "message");
    if (failure.scope === "connection") fatal(failure);
    else failPending(failure);
    return undefined;
  }
  const octets = await writeChunks(
    encodeData(message),
    (block) => channel.writeBytes("dataBlock", block),
    message.length,
  );
  channel.note(`message content: ${octets} octets incl. dot-stuffing and terminator`);
  return await channel.readReply("dataEnd");
}

/**
 * RFC 5321 §4.5.3.1.10: a 552 to RCPT meant "too many recipients" for old servers and SHOULD be
 * treated as temporary, like 452.
 */
function rcptFailure(reply: Reply): Failure {
  const failure = failureFrom(reply, "recipient");
  return reply.code === 552 ? { ...failure, kind: "transient" } : failure;
}

/**
 * RFC 2920 §3.1: a pipelined DATA can get 354 although no RCPT succeeded; the client must then
 * send the end-of-data mark alone, so the peer leaves data mode without receiving the message.
 */
async function abandonData(channel: Channel, data: Reply): Promise<void> {
  if (data.code !== 354) return;
  await channel.writeLines("dataEnd", ["."]);
  await channel.readReply("dataEnd");
}

function positive(reply: Reply): boolean {
  return reply.code >= 200 && reply.code < 300;
}

function asConnectionFailure(reply: Reply): Failure {
  const failure = failureFrom(reply, "connection");
  return { ...failure, kind: "transient", scope: "connection" };
}

/**
 * Sends the commands of a transaction and hands out their replies in order. Pipelined, every
 * command is written at once, concurrently with the reading, so a peer that answers before it
 * has read everything cannot deadlock us (RFC 2920 §3.1); in lock-step each command is written
 * when its reply is wanted.
 */
class Exchange {
  readonly pipelined: boolean;
  readonly resetting: boolean;
  readonly #channel: Channel;
  readonly #pending: string[];
  readonly #writing: Promise<unknown> | undefined;

  /** `chunk`: pipelined, the BDAT chunk, written right after the commands (the last BDAT). */
  constructor(
    channel: Channel,
    pipelined: boolean,
    commands: readonly string[],
    chunk?: Uint8Array,
  ) {
    this.#channel = channel;
    this.pipelined = pipelined;
    this.resetting = commands[0] === "RSET";
    this.#pending = [...commands];
    const write = !pipelined
      ? undefined
      : chunk === undefined
      ? channel.writeLines("mail", commands)
      : channel.writeLinesWithContent("dataBlock", commands, chunk);
    this.#writing = write?.then(() => undefined, (err) => err);
  }

  /** The reply to the next command, writing the command first in lock-step mode. */
  async next(phase: Phase): Promise<Reply> {
    const command = this.#pending.shift();
    if (command === undefined) throw new Error("Cannot read a reply as no command is pending");
    if (!this.pipelined) await this.#channel.writeLines(phase, [command]);
    return await this.#channel.readReply(phase);
  }

  /** Waits for the pipelined write; rethrows its failure. */
  async finish(): Promise<void> {
    const err = await this.#writing;
    if (err) throw err;
  }
}

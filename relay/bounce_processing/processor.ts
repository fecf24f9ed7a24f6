/**
 * One poll of the bounce mailbox: connect, authenticate, UIDL, then for each message not yet
 * processed RETR, parse, `sink.record()` (outcome + UIDL marker, one transaction), and only then
 * DELE; finally QUIT, which is when the server actually deletes (RFC 1939 §6).
 *
 * Why this order loses nothing and counts nothing twice: see sink.ts. In short, a crash before
 * the commit leaves the message unrecorded and in the mailbox (retried next poll); a crash after
 * it leaves the message in the mailbox with its marker set, so the next poll deletes it without
 * recording it again.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { Pop3Client, Pop3Err, Pop3Refused, Pop3Result, UidlEntry } from "../pop3/mod.ts";
import type { BounceLog } from "./events.ts";
import { parseBounce } from "../bounce_parsing/mod.ts";
import { emptyCounts, type PollCounts, type PollReport, type PollStage } from "./poll_report.ts";
import type { Secret } from "../../lib/secret.ts";
import type { BounceSink } from "./sink.ts";
import type { VerpKey } from "../bounce_parsing/mod.ts";

/** Body lines read from an oversized message: the human part and the DSN, not the attachments. */
const TOP_LINES = 500;

/** Opens a POP3 session in AUTHORIZATION state (dial, TLS, greeting): see `openPop3`. */
export type Pop3Connector = (
  signal: AbortSignal,
) => Promise<Pop3Result<Pop3Client> | Pop3Refused>;

/**
 * A mail in the mailbox that is a one-click unsubscribe request (RFC 8058's `mailto:` form):
 * `handled` when it was one (applied or refused; it is deleted like a recorded bounce), `other`
 * for everything else. relay/unsubscribe decides; the composition root plugs it in.
 */
export type MailboxUnsubscribe = (message: Uint8Array) => Promise<"handled" | "other">;

export interface PollOptions {
  readonly clock: Clock;
  readonly sink: BounceSink;
  /** The maildrop's key in the sink, e.g. `bounces@pop.example.com:995`. */
  readonly mailbox: string;
  readonly connect: Pop3Connector;
  readonly credentials: {
    readonly user: string;
    /** Wrapped, so logging these options cannot print it. */
    readonly password: Secret;
    /** `user` for USER/PASS (default), `apop` for APOP. */
    readonly method?: "user" | "apop";
  };
  readonly verp?: VerpKey;
  /** New messages retrieved per poll at most; the rest wait for the next one. Default 200. */
  readonly maxMessages?: number;
  /**
   * Messages larger than this (per LIST) are read with `TOP n 500` instead of RETR: the report
   * parts come first, and one huge message must not stall the mailbox. Default 10 MiB.
   */
  readonly maxMessageBytes?: number;
  readonly log?: BounceLog;
  /** Unsubscribe requests sent to the mailbox; absent: every mail is a bounce candidate. */
  readonly unsubscribe?: MailboxUnsubscribe;
}

/** Runs one poll. Never throws: failures and aborts are in the returned report. */
export async function pollMailbox(opts: PollOptions, signal?: AbortSignal): Promise<PollReport> {
  const report = await poll(opts, signal);
  opts.log?.({ kind: "bounce.poll_finished", mailbox: opts.mailbox, report });
  return report;
}

async function poll(opts: PollOptions, signal: AbortSignal | undefined): Promise<PollReport> {
  const counts = emptyCounts();
  const at: { stage: PollStage } = { stage: "connect" };
  const abortSignal = signal ?? new AbortController().signal;
  let client: Pop3Client | undefined;
  const onAbort = () => client?.close();
  abortSignal.addEventListener("abort", onAbort, { once: true });
  try {
    abortSignal.throwIfAborted();
    const opened = await opts.connect(abortSignal);
    if (opened.kind !== "ok") return failed(at.stage, refusal(opened), counts);
    client = opened.value;
    abortSignal.throwIfAborted();

    at.stage = "auth";
    const { user, password, method } = opts.credentials;
    const auth = method === "apop"
      ? await client.apop(user, password.reveal())
      : await client.login(user, password.reveal());
    if (auth.kind !== "ok") {
      await quitQuietly(client);
      return failed(at.stage, refusal(auth), counts);
    }

    at.stage = "list";
    const listing = await client.uidl();
    if (listing.kind !== "ok") return failed(at.stage, refusal(listing), counts);
    counts.listed = listing.value.length;
    const sizes = await client.list();
    if (sizes.kind !== "ok") return failed(at.stage, refusal(sizes), counts);
    const sizeOf = new Map(sizes.value.map((e) => [e.n, e.size]));
    const done = await opts.sink.processed(opts.mailbox, listing.value.map((e) => e.uid));

    const entries = listing.value.map((e) => ({ ...e, size: sizeOf.get(e.n) ?? 0 }));
    const failure = await processAll(opts, client, entries, done, counts, at, abortSignal);
    if (failure) {
      // Everything marked so far was committed first, so QUIT may delete it.
      await quitQuietly(client);
      return failed(at.stage, failure, counts);
    }

    at.stage = "quit";
    abortSignal.throwIfAborted();
    const quit = await client.quit();
    if (quit.kind !== "ok") return failed(at.stage, refusal(quit), counts);
    return { kind: "completed", counts };
  } catch (err) {
    if (abortSignal.aborted) return { kind: "aborted", stage: at.stage, counts };
    return failed(
      at.stage,
      err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      counts,
    );
  } finally {
    // Whatever path got here, the session ends: after QUIT this is a no-op; anywhere else it
    // drops the session without QUIT, so the server deletes nothing.
    client?.close();
    abortSignal.removeEventListener("abort", onAbort);
  }
}

/** Processes the listing in order; returns a failure reason when the poll must stop early. */
async function processAll(
  opts: PollOptions,
  client: Pop3Client,
  entries: readonly (UidlEntry & { readonly size: number })[],
  done: ReadonlySet<string>,
  counts: PollCounts,
  at: { stage: PollStage },
  signal: AbortSignal,
): Promise<string | undefined> {
  const max = opts.maxMessages ?? 200;
  const mailbox = opts.mailbox;
  const maxBytes = opts.maxMessageBytes ?? 10 * 1024 * 1024;
  for (const { n, uid, size } of entries) {
    signal.throwIfAborted();
    if (done.has(uid)) {
      opts.log?.({ kind: "bounce.message_already_processed", mailbox, uidl: uid });
      counts.alreadyProcessed++;
      at.stage = "delete";
      await dele(opts, client, n, uid, counts);
      continue;
    }
    if (counts.recorded + counts.duplicates >= max) {
      counts.deferred++;
      continue;
    }

    at.stage = "retrieve";
    const oversized = size > maxBytes;
    const retrieved = oversized ? await client.top(n, TOP_LINES) : await client.retr(n);
    if (retrieved.kind !== "ok") {
      refused(opts, uid, retrieved, counts);
      continue;
    }
    if (opts.unsubscribe && !oversized) {
      at.stage = "record";
      let handled;
      try {
        handled = await opts.unsubscribe(retrieved.value) === "handled";
      } catch (err) {
        signal.throwIfAborted();
        return `cannot apply the unsubscribe request ${uid}: ${
          err instanceof Error ? err.message : err
        }`;
      }
      if (handled) {
        // Applied (or refused) and committed; a second pass would find the token used.
        signal.throwIfAborted();
        at.stage = "delete";
        await dele(opts, client, n, uid, counts);
        continue;
      }
    }
    const report = await parseBounce(retrieved.value, { verp: opts.verp });

    at.stage = "record";
    let result;
    try {
      result = await opts.sink.record({
        mailbox,
        uidl: uid,
        report,
        raw: retrieved.value,
        retrievedAt: opts.clock.now(),
      });
    } catch (err) {
      signal.throwIfAborted();
      return `the sink failed to record ${uid}: ${err instanceof Error ? err.message : err}`;
    }
    if (oversized) counts.oversized++;
    if (result.kind === "duplicate") {
      counts.duplicates++;
    } else {
      counts.recorded++;
      counts.matched += result.matched;
      counts.unmatched += result.unmatched;
      for (const o of report.outcomes) {
        if (o.kind === "bounce") counts.bounces++;
        else if (o.kind === "complaint") counts.complaints++;
        else counts.unrecognised++;
      }
      opts.log?.({
        kind: "bounce.message_recorded",
        mailbox,
        uidl: uid,
        outcomes: report.outcomes.map((o) => o.kind),
        matched: result.matched,
        unmatched: result.unmatched,
      });
    }

    // Only now, with the outcome committed, may the message go.
    signal.throwIfAborted();
    at.stage = "delete";
    await dele(opts, client, n, uid, counts);
  }
  return undefined;
}

async function dele(
  opts: PollOptions,
  client: Pop3Client,
  n: number,
  uid: string,
  counts: PollCounts,
): Promise<void> {
  const result = await client.dele(n);
  if (result.kind === "ok") counts.deleted++;
  else refused(opts, uid, result, counts);
}

function refused(opts: PollOptions, uidl: string, err: Pop3Err, counts: PollCounts): void {
  counts.refused++;
  opts.log?.({
    kind: "bounce.message_refused",
    mailbox: opts.mailbox,
    uidl,
    command: err.command,
    text: err.text,
  });
}

async function quitQuietly(client: Pop3Client): Promise<void> {
  try {
    await client.quit();
  } catch {
    // The session is being abandoned anyway; quit() has closed the stream.
  }
}

function refusal(r: Pop3Err | Pop3Refused): string {
  return r.kind === "err" ? `${r.command} refused: -ERR ${r.text}` : `${r.command}: ${r.reason}`;
}

function failed(stage: PollStage, reason: string, counts: PollCounts): PollReport {
  return { kind: "failed", stage, reason, counts };
}

/**
 * Wiring a validated {@link BounceConfig} to the poller. The VERP secret is revealed here (the
 * VERP functions are pure and take strings); the password stays wrapped until the POP3 login.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import { openPop3, type Pop3Trace } from "../pop3/mod.ts";
import type { BounceConfig } from "./config.ts";
import type { BounceLog } from "./events.ts";
import type { BounceLoopOptions } from "./loop.ts";
import type { BounceSink } from "./sink.ts";
import type { VerpKey } from "../bounce_parsing/mod.ts";
import type { MailboxUnsubscribe } from "./processor.ts";

export interface BouncePorts {
  readonly clock: Clock;
  readonly sink: BounceSink;
  readonly signal: AbortSignal;
  readonly log?: BounceLog;
  /** POP3 transcript hook; PASS and APOP arguments are redacted before it sees them. */
  readonly trace?: Pop3Trace;
  /** Extra trusted CA certificates (PEM) for the POP3 server. */
  readonly caCerts?: readonly string[];
  /** One-click unsubscribe requests sent to the mailbox (`mailto:`). */
  readonly unsubscribe?: MailboxUnsubscribe;
}

/** The VERP key the sending side encodes return paths with. */
export function verpKeyFromConfig(config: BounceConfig): VerpKey {
  const { prefix, domain, secret } = config.verp;
  return { prefix, domain, secret: secret.reveal() };
}

/** Everything `runBounceLoop` needs, from the config and the process's ports. */
export function bounceLoopOptions(config: BounceConfig, ports: BouncePorts): BounceLoopOptions {
  const endpoint = {
    host: config.host,
    port: config.port,
    tls: config.tls,
    ...(ports.caCerts ? { caCerts: ports.caCerts } : {}),
  };
  return {
    clock: ports.clock,
    sink: ports.sink,
    signal: ports.signal,
    log: ports.log,
    ...(ports.unsubscribe ? { unsubscribe: ports.unsubscribe } : {}),
    mailbox: `${config.username}@${config.host}:${config.port}`,
    pollIntervalMs: config.pollInterval,
    maxMessages: config.maxMessagesPerPoll,
    verp: verpKeyFromConfig(config),
    credentials: {
      user: config.username,
      password: config.password,
      method: config.auth,
    },
    connect: (signal) =>
      openPop3(endpoint, {
        signal,
        clock: ports.clock,
        allowPlaintextAuth: config.allowPlaintextAuth,
        commandTimeoutMs: config.commandTimeout,
        connectTimeoutMs: config.commandTimeout,
        trace: ports.trace,
      }),
  };
}

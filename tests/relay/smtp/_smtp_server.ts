/**
 * npm smtp-server on 127.0.0.1 and a free port, as a real receiving peer that can be told to
 * refuse at each stage (onConnect, onMailFrom, onRcptTo, onData) and to offer STARTTLS or AUTH.
 *
 * @module
 */
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import type { AddressInfo } from "node:net";

/** A message as smtp-server received it. */
export interface ReceivedMessage {
  readonly mailFrom: string;
  readonly recipients: string[];
  readonly content: Uint8Array;
  readonly secure: boolean;
  readonly user?: string;
  /** The client sent REQUIRETLS on MAIL FROM (RFC 8689); announced with `hideREQUIRETLS: false`. */
  readonly requireTls: boolean;
}

/** A running smtp-server. */
export interface TestSmtpServer extends AsyncDisposable {
  readonly port: number;
  readonly messages: ReceivedMessage[];
  close(): Promise<void>;
}

/** An error with the reply code smtp-server should send. */
export function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

/** Starts smtp-server with `options` (logger off, no auth required unless asked). */
export async function startSmtpServer(options: SMTPServerOptions = {}): Promise<TestSmtpServer> {
  const messages: ReceivedMessage[] = [];
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    onData(stream, session, callback) {
      const chunks: Uint8Array[] = [];
      stream.on("data", (c: Uint8Array) => chunks.push(c));
      stream.on("end", () => {
        const content = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let off = 0;
        for (const c of chunks) {
          content.set(c, off);
          off += c.length;
        }
        messages.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          recipients: session.envelope.rcptTo.map((r) => r.address),
          content,
          secure: session.secure,
          user: typeof session.user === "string" ? session.user : undefined,
          requireTls: session.envelope.requireTLS === true,
        });
        callback();
      });
    },
    ...options,
  });
  // TLS alerts and resets from a client that gave up are expected in these tests.
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return { port, messages, close, [Symbol.asyncDispose]: close };
}

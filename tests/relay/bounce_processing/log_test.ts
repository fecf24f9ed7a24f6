/**
 * The bounce poller's events as `bounce.*` log lines, and credentials kept out of them: by the
 * mapping, and through the whole loop against a POP3 server that echoes the password back.
 */
import assert from "node:assert/strict";
import type { LogEvent } from "../../../relay/composition/log.ts";
import type { BounceEvent } from "../../../relay/bounce_processing/events.ts";
import type { PollCounts } from "../../../relay/bounce_processing/poll_report.ts";
import { bounceLogLine, REDACTED } from "../../../relay/bounce_processing/log.ts";
import { emptyCounts } from "../../../relay/bounce_processing/poll_report.ts";
import { startBounceLoop } from "../../../relay/bounce_processing/wiring.ts";
import { ConfigError, loadConfig } from "../../../relay/config/config.ts";
import { jsonLogger } from "../../../relay/composition/log.ts";
import type { Database } from "../../../db/client.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";

const PASSWORD = "pop-Pa55word-xyz";
const VERP_SECRET = "verp-secret-0123456789";
const SECRETS = [PASSWORD, VERP_SECRET];
const MAILBOX = "bounces@pop.example.com:995";

function counts(extra: Partial<PollCounts> = {}): Record<keyof PollCounts, number> {
  return { ...emptyCounts(), ...extra };
}

Deno.test("bounceLogLine() maps each poller event to its bounce.* log event", () => {
  const cases: [BounceEvent, LogEvent][] = [
    [
      {
        kind: "bounce.message_recorded",
        mailbox: MAILBOX,
        uidl: "u1",
        outcomes: ["bounce", "complaint"],
        matched: 1,
        unmatched: 1,
      },
      {
        event: "bounce.message_recorded",
        mailbox: MAILBOX,
        uidl: "u1",
        outcomes: ["bounce", "complaint"],
        matched: 1,
        unmatched: 1,
      },
    ],
    [
      { kind: "bounce.message_already_processed", mailbox: MAILBOX, uidl: "u2" },
      { event: "bounce.message_already_processed", mailbox: MAILBOX, uidl: "u2" },
    ],
    [
      {
        kind: "bounce.message_refused",
        mailbox: MAILBOX,
        uidl: "u3",
        command: "DELE",
        text: "[IN-USE] locked",
      },
      {
        event: "bounce.message_refused",
        mailbox: MAILBOX,
        uidl: "u3",
        command: "DELE",
        text: "[IN-USE] locked",
      },
    ],
    [
      {
        kind: "bounce.poll_finished",
        mailbox: MAILBOX,
        report: { kind: "completed", counts: counts({ listed: 2, recorded: 2, deleted: 2 }) },
      },
      {
        event: "bounce.poll_completed",
        mailbox: MAILBOX,
        counts: counts({ listed: 2, recorded: 2, deleted: 2 }),
      },
    ],
    [
      {
        kind: "bounce.poll_finished",
        mailbox: MAILBOX,
        report: { kind: "failed", stage: "auth", reason: "PASS refused", counts: counts() },
      },
      {
        event: "bounce.poll_failed",
        mailbox: MAILBOX,
        stage: "auth",
        reason: "PASS refused",
        counts: counts(),
      },
    ],
    [
      {
        kind: "bounce.poll_finished",
        mailbox: MAILBOX,
        report: { kind: "aborted", stage: "retrieve", counts: counts({ listed: 1 }) },
      },
      { event: "bounce.poll_aborted", mailbox: MAILBOX, stage: "retrieve" },
    ],
  ];
  for (const [event, want] of cases) assert.deepEqual(bounceLogLine(event, SECRETS), want);
});

Deno.test("bounceLogLine() leaves polls of an empty mailbox out of the log", () => {
  const empty: BounceEvent = {
    kind: "bounce.poll_finished",
    mailbox: MAILBOX,
    report: { kind: "completed", counts: counts() },
  };
  assert.equal(bounceLogLine(empty, SECRETS), undefined);
});

Deno.test("bounceLogLine() scrubs the password and the VERP secret from server texts", () => {
  const failed = bounceLogLine({
    kind: "bounce.poll_finished",
    mailbox: MAILBOX,
    report: {
      kind: "failed",
      stage: "auth",
      reason: `PASS refused: -ERR no user with password ${PASSWORD} (key ${VERP_SECRET})`,
      counts: counts(),
    },
  }, SECRETS);
  assert.ok(failed?.event === "bounce.poll_failed");
  assert.equal(
    failed.reason,
    `PASS refused: -ERR no user with password ${REDACTED} (key ${REDACTED})`,
  );
  const refused = bounceLogLine({
    kind: "bounce.message_refused",
    mailbox: MAILBOX,
    uidl: "u1",
    command: "RETR",
    text: `${PASSWORD}${PASSWORD}`,
  }, SECRETS);
  assert.ok(refused?.event === "bounce.message_refused");
  assert.equal(refused.text, `${REDACTED}${REDACTED}`);
});

/**
 * A POP3 server on loopback that echoes the password it was sent in its `-ERR`, the worst a
 * broken server can do to a log. Answers one session, then closes.
 */
function echoingServer(): { port: number; done: Promise<string[]> } & Disposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serve = async (): Promise<string[]> => {
    const conn = await listener.accept();
    const seen: string[] = [];
    const write = (line: string) => conn.write(new TextEncoder().encode(`${line}\r\n`));
    try {
      await write("+OK ready");
      let buffered = "";
      const chunk = new Uint8Array(1024);
      for (;;) {
        const n = await conn.read(chunk);
        if (n === null) break;
        buffered += new TextDecoder().decode(chunk.subarray(0, n));
        let at: number;
        while ((at = buffered.indexOf("\r\n")) >= 0) {
          const line = buffered.slice(0, at);
          buffered = buffered.slice(at + 2);
          seen.push(line);
          if (line.startsWith("USER ")) await write("+OK");
          else if (line.startsWith("PASS ")) {
            await write(`-ERR [AUTH] '${line.slice(5)}' is not the password`);
          } else if (line === "QUIT") {
            await write("+OK bye");
            return seen;
          } else await write("-ERR unknown");
        }
      }
      return seen;
    } finally {
      conn.close();
    }
  };
  const done = serve();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    done,
    [Symbol.dispose]: () => listener.close(),
  };
}

Deno.test("startBounceLoop() never logs the POP3 password, even when the server echoes it", async () => {
  using server = echoingServer();
  const config = loadConfig(
    { FERRY_HOSTNAME: "relay.test", FERRY_CONFIG: "ferry.json" },
    () =>
      JSON.stringify({
        bounce: {
          host: "127.0.0.1",
          port: server.port,
          tls: "none",
          allowPlaintextAuth: true,
          username: "bounces",
          password: PASSWORD,
          verp: { domain: "bounce.example.com", secret: VERP_SECRET },
        },
      }),
    () => "relay.test",
  );
  const clock = new FakeClock();
  const lines: string[] = [];
  const stop = new AbortController();
  const polled = Promise.withResolvers<void>();
  const loop = startBounceLoop({
    config,
    database: {} as Database,
    clock,
    logger: jsonLogger(clock, (line) => lines.push(line)),
    signal: stop.signal,
    log: (e) => e.kind === "bounce.poll_finished" && polled.resolve(),
    sink: {
      processed: () => assert.fail("refused at login: no listing"),
      record: () => assert.fail("refused at login: no record"),
    },
  });
  await polled.promise;
  stop.abort();
  await loop;
  // The server did receive it (so it could echo it) and did echo it.
  assert.deepEqual(await server.done, ["USER bounces", `PASS ${PASSWORD}`, "QUIT"]);
  assert.equal(lines.length, 1, lines.join("\n"));
  const logged = JSON.parse(lines[0]!);
  assert.equal(logged.event, "bounce.poll_failed");
  assert.equal(logged.stage, "auth");
  assert.match(logged.reason, /PASS refused: -ERR \[AUTH\] '\[redacted\]' is not the password/);
  for (const line of lines) {
    assert.ok(!line.includes(PASSWORD), line);
    assert.ok(!line.includes(VERP_SECRET), line);
  }
});

Deno.test("loadConfig() names a bad bounce credential without printing it", () => {
  const load = (bounce: Record<string, unknown>) =>
    loadConfig(
      { FERRY_HOSTNAME: "relay.test", FERRY_CONFIG: "ferry.json" },
      () => JSON.stringify({ bounce }),
      () => "relay.test",
    );
  const base = {
    host: "pop.example.com",
    username: "bounces",
    password: PASSWORD,
    verp: { domain: "bounce.example.com", secret: VERP_SECRET },
  };
  const shortSecret = "tooShort-s3cret";
  assert.throws(
    () => load({ ...base, verp: { domain: "bounce.example.com", secret: shortSecret } }),
    (e: unknown) =>
      e instanceof ConfigError && e.key.endsWith("bounce.verp.secret") &&
      !e.message.includes(shortSecret),
  );
  assert.throws(
    () => load({ ...base, tls: "none" }),
    (e: unknown) =>
      e instanceof ConfigError && e.key.endsWith("bounce.tls") && !e.message.includes(PASSWORD),
  );
});

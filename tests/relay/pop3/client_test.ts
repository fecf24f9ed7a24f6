import assert from "node:assert/strict";
import { TimeoutError } from "../../../lib/clock.ts";
import {
  apopDigest,
  Pop3Client,
  type Pop3ClientOptions,
  type Pop3Conn,
  Pop3ProtocolError,
  Pop3StateError,
  type Pop3TraceEvent,
} from "../../../relay/pop3/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { ScriptedConn, type Step } from "./_scripted_peer.ts";

const GREETING = "+OK POP3 ready <4711.1700000000@pop.example.test>\r\n";

async function session(
  script: readonly Step[],
  opts: Partial<Pop3ClientOptions> = {},
  greeting = GREETING,
): Promise<{ client: Pop3Client; conn: ScriptedConn; clock: FakeClock }> {
  const conn = new ScriptedConn(greeting, script);
  const clock = new FakeClock();
  const greeted = await Pop3Client.greet(conn, { clock, ...opts });
  assert.equal(greeted.kind, "ok");
  if (greeted.kind !== "ok") throw new Error("unreachable");
  return { client: greeted.value, conn, clock };
}

const loggedIn: Step[] = [["USER bounces", "+OK\r\n"], ["PASS pw", "+OK Logged in.\r\n"]];

Deno.test("Pop3Client.greet() captures the APOP timestamp of the greeting", async () => {
  const { client } = await session([]);
  assert.equal(client.greeting, "POP3 ready <4711.1700000000@pop.example.test>");
  assert.equal(client.apopTimestamp, "<4711.1700000000@pop.example.test>");
  assert.equal(client.state, "authorization");
  client.close();
});

Deno.test("Pop3Client.greet() returns a refusing greeting as a value and closes", async () => {
  const conn = new ScriptedConn("-ERR [SYS/TEMP] too busy\r\n", []);
  const greeted = await Pop3Client.greet(conn, { clock: new FakeClock() });
  assert.deepEqual(greeted, {
    kind: "err",
    command: "greeting",
    text: "[SYS/TEMP] too busy",
    code: "SYS/TEMP",
  });
  assert.equal(conn.closed, true);
});

Deno.test("Pop3Client.login() refuses plaintext auth without TLS and sends nothing", async () => {
  const { client, conn } = await session([]);
  const result = await client.login("bounces", "pw");
  assert.equal(result.kind, "refused");
  assert.deepEqual(conn.written, []);
  client.close();
});

Deno.test("Pop3Client.login() sends USER/PASS and keeps the password out of the trace", async () => {
  const trace: Pop3TraceEvent[] = [];
  const { client } = await session(loggedIn, {
    allowPlaintextAuth: true,
    trace: (e) => trace.push(e),
  });
  assert.deepEqual(await client.login("bounces", "pw"), {
    kind: "ok",
    value: undefined,
    text: "Logged in.",
  });
  assert.equal(client.state, "transaction");
  assert.deepEqual(trace.filter((e) => e.direction === "client").map((e) => e.line), [
    "USER bounces",
    "PASS ****",
  ]);
  assert.ok(!JSON.stringify(trace).includes('pw"'));
  client.close();
});

Deno.test("Pop3Client.login() returns -ERR [AUTH] as a value and stays in AUTHORIZATION", async () => {
  const { client } = await session([
    ["USER bounces", "+OK\r\n"],
    ["PASS wrong", "-ERR [AUTH] Authentication failed.\r\n"],
  ], { tls: true });
  assert.deepEqual(await client.login("bounces", "wrong"), {
    kind: "err",
    command: "PASS",
    text: "[AUTH] Authentication failed.",
    code: "AUTH",
  });
  assert.equal(client.state, "authorization");
  client.close();
});

Deno.test("Pop3Client.apop() sends the RFC 1939 digest, redacted in the trace", async () => {
  const digest = apopDigest("<4711.1700000000@pop.example.test>", "secret");
  const trace: string[] = [];
  const { client } = await session(
    [[`APOP bounces ${digest}`, "+OK maildrop has 0 messages\r\n"]],
    {
      trace: (e) => trace.push(e.line),
    },
  );
  assert.equal((await client.apop("bounces", "secret")).kind, "ok");
  assert.ok(trace.includes("APOP bounces ****"));
  assert.ok(!trace.some((l) => l.includes(digest)));
  client.close();
});

Deno.test("Pop3Client.apop() is refused when the greeting has no timestamp", async () => {
  const { client, conn } = await session([], {}, "+OK ready\r\n");
  assert.equal((await client.apop("bounces", "secret")).kind, "refused");
  assert.deepEqual(conn.written, []);
  client.close();
});

Deno.test("Pop3Client.stls() upgrades through the injected startTls, then allows login", async () => {
  const upgraded = new ScriptedConn(undefined, loggedIn);
  let handedOver: Pop3Conn | undefined;
  const { client, conn } = await session([["STLS", "+OK Begin TLS negotiation now.\r\n"]], {
    startTls: (c) => {
      handedOver = c;
      return Promise.resolve(upgraded);
    },
  });
  assert.equal((await client.stls()).kind, "ok");
  assert.equal(handedOver, conn);
  assert.equal(client.tls, true);
  assert.equal((await client.stls()).kind, "refused");
  assert.equal((await client.login("bounces", "pw")).kind, "ok");
  assert.deepEqual(upgraded.written, ["USER bounces", "PASS pw"]);
  client.close();
  assert.equal(upgraded.closed, true);
});

Deno.test("Pop3Client.stls() fails when plaintext bytes follow the +OK (command injection)", async () => {
  const { client } = await session([["STLS", "+OK go\r\n-ERR injected\r\n"]], {
    startTls: () => Promise.resolve(new ScriptedConn(undefined, [])),
  });
  // The peer sends 3-byte chunks, so "\r\n-" arrives with the +OK: a byte is left buffered.
  await assert.rejects(() => client.stls(), Pop3ProtocolError);
  assert.equal(client.state, "closed");
});

Deno.test("Pop3Client commands parse STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP, QUIT", async () => {
  const { client, conn } = await session([
    ...loggedIn,
    ["STAT", "+OK 2 320\r\n"],
    ["LIST", "+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n"],
    ["LIST 2", "+OK 2 200\r\n"],
    ["UIDL", "+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n"],
    ["UIDL 1", "+OK 1 whqtswO00WBw418f9t5JxYwZ\r\n"],
    ["RETR 1", "+OK 120 octets\r\nSubject: x\r\n\r\n..dot\r\nend\r\n.\r\n"],
    ["TOP 2 0", "+OK\r\nSubject: y\r\n\r\n.\r\n"],
    ["DELE 1", "+OK message 1 deleted\r\n"],
    ["RETR 1", "-ERR message 1 already deleted\r\n"],
    ["RSET", "+OK\r\n"],
    ["NOOP", "+OK\r\n"],
    ["QUIT", "+OK bye\r\n"],
  ], { allowPlaintextAuth: true });
  await client.login("bounces", "pw");
  const stat = await client.stat();
  assert.deepEqual(stat.kind === "ok" && stat.value, { count: 2, size: 320 });
  assert.deepEqual(await client.list(), {
    kind: "ok",
    value: [{ n: 1, size: 120 }, { n: 2, size: 200 }],
    text: "2 messages",
  });
  const listOne = await client.list(2);
  assert.deepEqual(listOne.kind === "ok" && listOne.value, [{ n: 2, size: 200 }]);
  const uidl = await client.uidl();
  assert.deepEqual(uidl.kind === "ok" && uidl.value.map((e) => e.uid), [
    "whqtswO00WBw418f9t5JxYwZ",
    "QhdPYR:00WBw1Ph7x7",
  ]);
  const one = await client.uidl(1);
  assert.deepEqual(one.kind === "ok" && one.value, [{ n: 1, uid: "whqtswO00WBw418f9t5JxYwZ" }]);
  const retr = await client.retr(1);
  assert.equal(
    retr.kind === "ok" && new TextDecoder().decode(retr.value),
    "Subject: x\r\n\r\n.dot\r\nend\r\n",
  );
  const top = await client.top(2, 0);
  assert.equal(top.kind === "ok" && new TextDecoder().decode(top.value), "Subject: y\r\n\r\n");
  assert.equal((await client.dele(1)).kind, "ok");
  assert.deepEqual(await client.retr(1), {
    kind: "err",
    command: "RETR",
    text: "message 1 already deleted",
  });
  assert.equal((await client.rset()).kind, "ok");
  assert.equal((await client.noop()).kind, "ok");
  assert.equal((await client.quit()).kind, "ok");
  assert.equal(client.state, "closed");
  assert.equal(conn.closed, true);
  assert.equal(conn.remaining, 0);
});

Deno.test("Pop3Client.stat() reads the count and size", async () => {
  const { client } = await session([...loggedIn, ["STAT", "+OK 2 320\r\n"]], {
    allowPlaintextAuth: true,
  });
  await client.login("bounces", "pw");
  assert.deepEqual(await client.stat(), {
    kind: "ok",
    value: { count: 2, size: 320 },
    text: "2 320",
  });
  client.close();
});

Deno.test("Pop3Client times out a silent server on the injected clock and closes", async () => {
  const { client, conn, clock } = await session([...loggedIn, ["STAT", ""]], {
    allowPlaintextAuth: true,
    commandTimeoutMs: 5_000,
  });
  await client.login("bounces", "pw");
  const stat = client.stat();
  await clock.untilSleeping();
  await clock.advance(4_999);
  assert.equal(conn.closed, false);
  await clock.advance(1);
  await assert.rejects(() => stat, (err) => err instanceof TimeoutError && err.ms === 5_000);
  assert.equal(conn.closed, true);
  assert.equal(client.state, "closed");
  assert.equal(clock.pending, 0);
});

Deno.test("Pop3Client times a multi-line reply with the transfer deadline", async () => {
  const { client, conn, clock } = await session([
    ...loggedIn,
    ["RETR 1", "+OK\r\nSubject: half a message\r\n"],
  ], { allowPlaintextAuth: true, commandTimeoutMs: 1_000, transferTimeoutMs: 60_000 });
  await client.login("bounces", "pw");
  const retr = client.retr(1);
  await clock.untilSleeping();
  await clock.advance(1_000);
  assert.equal(conn.closed, false);
  await clock.advance(59_000);
  await assert.rejects(() => retr, TimeoutError);
  assert.equal(conn.closed, true);
});

Deno.test("Pop3Client fails with Pop3ProtocolError on a reply that is not +OK/-ERR", async () => {
  const { client } = await session([...loggedIn, ["NOOP", "* BYE not pop3\r\n"]], {
    allowPlaintextAuth: true,
  });
  await client.login("bounces", "pw");
  await assert.rejects(() => client.noop(), Pop3ProtocolError);
  assert.equal(client.state, "closed");
});

Deno.test("Pop3Client refuses commands in the wrong state and unsafe arguments", async () => {
  const { client, conn } = await session([], { allowPlaintextAuth: true });
  await assert.rejects(() => client.retr(1), Pop3StateError);
  await assert.rejects(() => client.login("bounces\r\nDELE 1", "pw"), RangeError);
  assert.deepEqual(conn.written, []);
  client.close();
  await assert.rejects(() => client.capa(), Pop3StateError);
});

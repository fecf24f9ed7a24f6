import assert from "node:assert/strict";
import { LineReader, Pop3ClosedError, Pop3ProtocolError } from "../../../relay/pop3/mod.ts";
import { ScriptedConn } from "./_scripted_peer.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("LineReader.readMultiline() removes byte-stuffing and the terminator, keeping CRLF", async () => {
  for (const chunk of [1, 2, 3, 7, 1024]) {
    const conn = new ScriptedConn(
      "+OK 5 octets\r\nline one\r\n..starts with a dot\r\n.\r\n..\r\n\r\nlast\r\n.\r\n+OK next\r\n",
      [],
      chunk,
    );
    const reader = new LineReader(conn);
    assert.equal(await reader.readLine(512, "RETR"), "+OK 5 octets");
    const body = await reader.readMultiline(1 << 20, "RETR");
    assert.equal(text(body.bytes), "line one\r\n.starts with a dot\r\n");
    assert.equal(body.lines, 2);
    // The lone "." ended the first body: what follows belongs to the next reply.
    const next = await reader.readMultiline(1 << 20, "RETR");
    assert.equal(text(next.bytes), ".\r\n\r\nlast\r\n", `chunk ${chunk}`);
    assert.equal(await reader.readLine(512, "NOOP"), "+OK next");
  }
});

Deno.test("LineReader.readLine() accepts a bare LF line end", async () => {
  const reader = new LineReader(new ScriptedConn("+OK bare\n-ERR no\r\n", []));
  assert.equal(await reader.readLine(512, "NOOP"), "+OK bare");
  assert.equal(await reader.readLine(512, "NOOP"), "-ERR no");
});

Deno.test("LineReader.readLine() fails on a line longer than its limit", async () => {
  const reader = new LineReader(new ScriptedConn(`+OK ${"x".repeat(100)}\r\n`, [], 16));
  await assert.rejects(() => reader.readLine(40, "STAT"), Pop3ProtocolError);
});

Deno.test("LineReader.readMultiline() fails once the body exceeds its limit", async () => {
  const reader = new LineReader(new ScriptedConn(`${"abcdefghij\r\n".repeat(10)}.\r\n`, []));
  await assert.rejects(
    () => reader.readMultiline(50, "RETR"),
    (err) => err instanceof Pop3ProtocolError && /must be <= 50 bytes/.test(err.message),
  );
});

Deno.test("LineReader.readLine() reports end of stream as Pop3ClosedError", async () => {
  const conn = new ScriptedConn("+OK partial", []);
  conn.hangUp();
  await assert.rejects(() => new LineReader(conn).readLine(512, "USER"), Pop3ClosedError);
});

Deno.test("LineReader.replaceConn() refuses while plaintext bytes are buffered", async () => {
  const conn = new ScriptedConn("+OK go ahead\r\n-ERR injected\r\n", [], 1024);
  const reader = new LineReader(conn);
  await reader.readLine(512, "STLS");
  assert.throws(() => reader.replaceConn(conn, "STLS"), Pop3ProtocolError);
});

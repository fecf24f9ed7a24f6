/** The fetcher's HTTP/1.1 response reading, over scripted bytes split at awkward places. */
import assert from "node:assert/strict";
import { ByteReader } from "../../../relay/mta_sts/byte_reader.ts";
import { readBody, readHead } from "../../../relay/mta_sts/http_response.ts";

/** A reader over `chunks`, delivered one `read()` each, then the end of the connection. */
function readerOf(...chunks: string[]): ByteReader {
  const queue = chunks.map((c) => new TextEncoder().encode(c));
  return new ByteReader({
    read(into) {
      const chunk = queue.shift();
      if (!chunk) return Promise.resolve(null);
      const n = Math.min(chunk.length, into.length);
      into.set(chunk.subarray(0, n));
      if (n < chunk.length) queue.unshift(chunk.subarray(n));
      return Promise.resolve(n);
    },
  });
}

async function response(max: number, ...chunks: string[]) {
  const reader = readerOf(...chunks);
  const head = await readHead(reader);
  return { head, body: new TextDecoder().decode(await readBody(reader, head, max)) };
}

Deno.test("readHead() reads the status and header fields, split across reads", async () => {
  const { head, body } = await response(
    100,
    "HTTP/1.1 200 OK\r\nContent-Ty",
    "pe: text/plain\r\nX-A: 1\r\nx-a:  2 \r",
    "\nContent-Length: 5\r\n\r\nhello",
  );
  assert.equal(head.status, 200);
  assert.deepEqual(head.headers.get("content-type"), ["text/plain"]);
  assert.deepEqual(head.headers.get("x-a"), ["1", "2"]);
  assert.equal(body, "hello");
});

Deno.test("readBody() decodes chunked coding with extensions and trailer fields", async () => {
  const { body } = await response(
    100,
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    "5;name=value\r\nhello\r\n",
    "1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
  );
  assert.equal(body, "hello 0123456789");
});

Deno.test("readBody() reads to the end of the connection when nothing frames the body", async () => {
  const { body } = await response(10, "HTTP/1.0 200 OK\r\n\r\n", "0123456789");
  assert.equal(body, "0123456789");
  await assert.rejects(response(9, "HTTP/1.0 200 OK\r\n\r\n", "0123456789"), /over 9 octets/);
});

Deno.test("readHead() refuses what is not an HTTP/1.x head", async () => {
  const heads: Record<string, [string, RegExp]> = {
    "HTTP/2": ["HTTP/2 200\r\n\r\n", /status line "HTTP\/2 200" is not HTTP\/1\.x/],
    "ICY": ["ICY 200 OK\r\n\r\n", /status line/],
    "folded line": ["HTTP/1.1 200 OK\r\nX-A: 1\r\n  more\r\n\r\n", /header line " {2}more"/],
    "no colon": ["HTTP/1.1 200 OK\r\njunk\r\n\r\n", /header line "junk" is malformed/],
    "oversize": [`HTTP/1.1 200 OK\r\nX: ${"a".repeat(17_000)}\r\n\r\n`, /over 16384 octets/],
    "cut short": ["HTTP/1.1 200 OK\r\nX: 1\r\n", /closed inside the response head/],
  };
  for (const [name, [text, error]] of Object.entries(heads)) {
    await assert.rejects(readHead(readerOf(text)), error, name);
  }
});

Deno.test("readBody() refuses ambiguous or broken framing", async () => {
  const cases: Record<string, [string, RegExp]> = {
    "two lengths": [
      "Content-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
      /Content-Length "2, 3" is not one number/,
    ],
    "a length with a sign": ["Content-Length: +3\r\n\r\nabc", /is not one number/],
    "length and chunked": [
      "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      /Transfer-Encoding and Content-Length/,
    ],
    "gzip coding": ["Transfer-Encoding: gzip, chunked\r\n\r\n", /is not chunked/],
    "bad chunk size": ["Transfer-Encoding: chunked\r\n\r\nzz\r\n", /chunk size line "zz"/],
    "chunk without CRLF": [
      "Transfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
      /does not end with CRLF/,
    ],
    "chunks over the limit": [
      "Transfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n",
      /body is over 10 octets/,
    ],
    "length over the limit": ["Content-Length: 11\r\n\r\n", /body of 11 octets is over 10/],
    "closed inside the body": ["Content-Length: 8\r\n\r\nabc", /closed inside the body/],
  };
  for (const [name, [rest, error]] of Object.entries(cases)) {
    await assert.rejects(response(10, `HTTP/1.1 200 OK\r\n${rest}`), error, name);
  }
});

import assert from "node:assert/strict";
import fc from "fast-check";
import { crlfContent, encodeData, scanMessage, writeChunks } from "../../../relay/smtp/mod.ts";
import { unstuff } from "../../_fakes/scripted_smtp_peer.ts";
import { decoder, encoder } from "./_helpers.ts";

const CR = 0x0d;
const LF = 0x0a;

function encode(message: Uint8Array): Uint8Array {
  const chunks = [...encodeData(message)];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** The reference: every CRLF, bare CR and bare LF becomes CRLF; a last line gets its CRLF. */
function normalise(message: Uint8Array): Uint8Array {
  const text = decoder.decode(message.length ? latin1(message) : new Uint8Array(0));
  const lines = text.replace(/\r\n|\r|\n/g, "\n");
  const done = lines === "" || lines.endsWith("\n") ? lines : lines + "\n";
  return unlatin1(done.replace(/\n/g, "\r\n"));
}

// Byte-transparent string round trip for the reference implementation.
function latin1(bytes: Uint8Array): Uint8Array {
  return encoder.encode([...bytes].map((b) => String.fromCharCode(b)).join(""));
}
function unlatin1(text: string): Uint8Array {
  return Uint8Array.from([...text].map((c) => c.charCodeAt(0)));
}

const messageArb = fc.oneof(
  fc.array(fc.constantFrom(CR, LF, 0x2e, 0x61, 0x20, 0xc3, 0xbc), { maxLength: 200 }).map((a) =>
    Uint8Array.from(a)
  ),
  fc.uint8Array({ maxLength: 300 }),
);

Deno.test("encodeData() then undoing dot-stuffing gives the CRLF-normalised message", () => {
  fc.assert(
    fc.property(messageArb, (message) => {
      const wire = encode(message);
      assert.deepEqual(wire.subarray(wire.length - 3), encoder.encode(".\r\n"));
      const content = wire.subarray(0, wire.length - 3);
      assert.deepEqual(unstuff(content), normalise(message));
      assert.equal(scanMessage(message).size, normalise(message).length);
    }),
    { numRuns: 3_000 },
  );
});

Deno.test("encodeData() never emits a bare CR or LF, nor a lone '.' line before the end", () => {
  fc.assert(
    fc.property(messageArb, (message) => {
      const wire = encode(message);
      for (let i = 0; i < wire.length; i++) {
        if (wire[i] === CR) assert.equal(wire[i + 1], LF, `bare CR at ${i}`);
        if (wire[i] === LF) assert.equal(wire[i - 1], CR, `bare LF at ${i}`);
      }
      const text = decoder.decode(latin1(wire));
      const end = text.length - 3;
      assert.equal(text.indexOf("\r\n.\r\n"), text.length === 3 ? -1 : end - 2);
      if (text.length > 3) assert.ok(!text.startsWith(".\r\n"));
    }),
    { numRuns: 3_000 },
  );
});

Deno.test("encodeData() handles the smuggling sequences of CVE-2023-51764 and friends", () => {
  for (
    const evil of [
      "a\n.\nMAIL FROM:<x>\n",
      "a\r\n.\rMAIL",
      "a\r.\r\nMAIL",
      "a\n.\r\nMAIL",
      "a\r\n.\nMAIL",
    ]
  ) {
    const wire = decoder.decode(encode(encoder.encode(evil)));
    assert.equal(wire.indexOf("\r\n.\r\n"), wire.length - 5, JSON.stringify(wire));
    assert.match(wire, /\r\n\.\.(\r\n)?MAIL|\r\n\.\.\r\n/);
  }
});

Deno.test("encodeData() yields the caller's bytes without copying a well-formed message", () => {
  const message = encoder.encode("Subject: x\r\n\r\n" + "line\r\n".repeat(10_000));
  const chunks = [...encodeData(message)];
  assert.equal(chunks.length, 2);
  assert.equal(chunks[0]!.buffer, message.buffer);
  assert.equal(chunks[0]!.length, message.length);
  assert.equal(decoder.decode(chunks[1]), ".\r\n");
});

Deno.test("scanMessage() finds the first long line, 8-bit content and 8-bit headers", () => {
  const scan = scanMessage(
    encoder.encode(`Subject: ok\r\n\r\n${"a".repeat(998)}\r\n${"b".repeat(999)}\r\nü\r\n`),
  );
  assert.deepEqual(scan.longLine, { line: 4, length: 999 });
  assert.equal(scan.eightBit, true);
  assert.equal(scan.eightBitHeaders, false);
  assert.equal(scanMessage(encoder.encode("Subject: ü\r\n\r\nx")).eightBitHeaders, true);
});

/** The scan octet by octet, as RFC 5321 §2.3.8 and RFC 5322 §2.1 describe it: the reference. */
function referenceScan(message: Uint8Array, maxLineLength = 998) {
  let size = 0;
  let lineLength = 0;
  let lineNo = 1;
  let eightBit = false;
  let eightBitHeaders = false;
  let inHeaders = true;
  let canonical = true;
  let longLine: { line: number; length: number } | undefined;
  const endLine = () => {
    if (lineLength > maxLineLength && !longLine) longLine = { line: lineNo, length: lineLength };
    if (lineLength === 0) inHeaders = false;
    size += lineLength + 2;
    lineLength = 0;
    lineNo++;
  };
  for (let i = 0; i < message.length; i++) {
    const b = message[i]!;
    if (b === CR) {
      if (message[i + 1] === LF) i++;
      else canonical = false;
      endLine();
    } else if (b === LF) {
      canonical = false;
      endLine();
    } else {
      lineLength++;
      if (b >= 0x80) {
        eightBit = true;
        if (inHeaders) eightBitHeaders = true;
      }
    }
  }
  if (lineLength > 0) {
    canonical = false;
    endLine();
  }
  return longLine
    ? { size, eightBit, eightBitHeaders, longLine, canonical }
    : { size, eightBit, eightBitHeaders, canonical };
}

/** Every line end (bare CR, bare LF, CRLF, or none at the end) as CRLF: the reference. */
function referenceCrlf(message: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < message.length; i++) {
    const b = message[i]!;
    if (b === CR || b === LF) {
      if (b === CR && message[i + 1] === LF) i++;
      out.push(CR, LF);
    } else out.push(b);
  }
  if (message.length > 0 && out.at(-1) !== LF) out.push(CR, LF);
  return Uint8Array.from(out);
}

Deno.test("crlfContent() gives the octets DATA delivers, without dot-stuffing, and as many as scanMessage() counts", () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      const scan = scanMessage(m);
      const chunk = crlfContent(m, scan.canonical);
      assert.deepEqual(chunk, referenceCrlf(m));
      assert.equal(chunk.length, scan.size);
      if (scan.canonical) assert.equal(chunk, m, "a canonical message is sent as it is");
    }),
    { numRuns: 3_000 },
  );
});

Deno.test("scanMessage() agrees with an octet-by-octet scan", () => {
  const withHeaders = fc.tuple(messageArb, messageArb).map(([head, body]) => {
    const out = new Uint8Array(head.length + 2 + body.length);
    out.set(head);
    out.set([CR, LF], head.length);
    out.set(body, head.length + 2);
    return out;
  });
  fc.assert(
    fc.property(fc.oneof(messageArb, withHeaders), fc.integer({ min: 0, max: 8 }), (m, offset) => {
      // A view at an odd offset of a larger buffer, as a caller's subarray would be.
      const backing = new Uint8Array(offset + m.length);
      backing.set(m, offset);
      const view = backing.subarray(offset);
      assert.deepEqual(scanMessage(view, 20), referenceScan(m, 20));
    }),
    { numRuns: 3_000 },
  );
});

Deno.test("writeChunks() gathers short chunks and passes long ones through in order", async () => {
  const writes: Uint8Array[] = [];
  const big = new Uint8Array(3 * 1024 * 1024).fill(0x61);
  const total = await writeChunks([
    encoder.encode("ab"),
    encoder.encode("cd"),
    big,
    encoder.encode("ef"),
  ], (b) => {
    writes.push(b.slice());
    return Promise.resolve();
  });
  assert.equal(total, big.length + 6);
  assert.deepEqual(writes.map((w) => w.length), [4, 1024 * 1024, 1024 * 1024, 1024 * 1024, 2]);
  assert.equal(decoder.decode(writes[0]), "abcd");
});

Deno.test("writeChunks() sends a message of up to 64 KiB and its terminator in one write", async () => {
  for (const size of [2 * 1024, 50 * 1024]) {
    const message = encoder.encode("Subject: x\r\n\r\n" + "y".repeat(size - 17) + "\r\n");
    const writes: Uint8Array[] = [];
    const total = await writeChunks(encodeData(message), (b) => {
      writes.push(b.slice());
      return Promise.resolve();
    });
    assert.equal(total, message.length + 3);
    assert.equal(writes.length, 1, `${size} octets`);
    assert.equal(decoder.decode(writes[0]), decoder.decode(message) + ".\r\n");
  }
});

Deno.test("writeChunks() gathers a small message in a buffer of its own size, dot-stuffed, in one write", async () => {
  const message = encoder.encode("Subject: x\r\n\r\n.a\r\n" + "y".repeat(2000) + "\r\n..\r\n");
  const writes: Uint8Array[] = [];
  const total = await writeChunks(encodeData(message), (b) => {
    assert.ok(b.buffer.byteLength < 4096, `a ${b.buffer.byteLength}-octet buffer`);
    writes.push(b.slice());
    return Promise.resolve();
  }, message.length);
  assert.equal(writes.length, 1);
  assert.equal(total, message.length + 2 + 3, "two dots stuffed, terminator");
  const wire = decoder.decode(writes[0]);
  assert.ok(wire.startsWith("Subject: x\r\n\r\n..a\r\n") && wire.endsWith("\r\n...\r\n.\r\n"));
});

Deno.test("writeChunks() copes with a size hint that is too small", async () => {
  const message = encoder.encode("z".repeat(5000) + "\r\n");
  const writes: Uint8Array[] = [];
  const total = await writeChunks(encodeData(message), (b) => {
    writes.push(b.slice());
    return Promise.resolve();
  }, 10);
  assert.equal(total, message.length + 3);
  assert.equal(
    decoder.decode(new Uint8Array(writes.flatMap((w) => [...w]))),
    "z".repeat(5000) + "\r\n.\r\n",
  );
});

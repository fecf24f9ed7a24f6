import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatReply,
  makeReply,
  openSession,
  parseReply,
  type Reply,
  ReplyAssembler,
  replyText,
} from "../../../relay/smtp/mod.ts";
import type { ByteStream } from "../../../relay/tls/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";

Deno.test("parseReply() reads a multi-line reply with an enhanced status code", () => {
  const step = parseReply(
    "550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please check.\r\n",
  );
  assert.equal(step.kind, "reply");
  if (step.kind !== "reply") return;
  assert.equal(step.reply.code, 550);
  assert.equal(step.reply.enhanced, "5.1.1");
  assert.equal(
    replyText(step.reply),
    "The email account that you tried to reach does not exist.\nPlease check.",
  );
});

Deno.test("parseReply() accepts a bare code and ignores an enhanced code of the wrong class", () => {
  assert.deepEqual(parseReply("250\r\n"), { kind: "reply", reply: { code: 250, lines: [""] } });
  const step = parseReply("450 5.1.1 mismatched class\r\n");
  assert.equal(step.kind === "reply" && step.reply.enhanced, undefined);
});

Deno.test("parseReply() reports garbage with a reason", () => {
  for (
    const [text, reason] of [
      ["hello\r\n", /3-digit code/],
      ["25 short\r\n", /3-digit code/],
      ["250-a\r\n251 b\r\n", /changed its code/],
      ["250-a\r\n", /ends without a last line/],
      ["250 a\r\n250 b\r\n", /follows the last line/],
      ["100 informational\r\n", /3-digit code/],
      ["250" + "x".repeat(5000) + "\r\n", /3-digit code|longer than/],
    ] as const
  ) {
    const step = parseReply(text);
    assert.equal(step.kind, "garbage", text);
    if (step.kind === "garbage") assert.match(step.reason, reason);
  }
});

Deno.test("ReplyAssembler.add() gives up on a runaway multi-line reply", () => {
  const assembler = new ReplyAssembler();
  let last;
  for (let i = 0; i < 200 && last?.kind !== "garbage"; i++) last = assembler.add("250-more");
  assert.equal(last?.kind, "garbage");
});

const replyArb: fc.Arbitrary<Reply> = fc.record({
  code: fc.integer({ min: 200, max: 599 }),
  lines: fc.array(
    fc.string({ unit: "grapheme", maxLength: 60 }).map((s) => s.replace(/[\r\n]/g, " ")),
    {
      minLength: 1,
      maxLength: 6,
    },
  ),
}).map(({ code, lines }) => makeReply(code, lines));

Deno.test("parseReply() inverts formatReply() for every well-formed reply", () => {
  fc.assert(fc.property(replyArb, (reply) => {
    assert.deepEqual(parseReply(formatReply(reply) + "\r\n"), { kind: "reply", reply });
  }));
});

Deno.test("parseReply() never throws, whatever the input", () => {
  const noisy = fc.array(
    fc.oneof(
      fc.constantFrom(
        "250",
        "250-",
        "250 ",
        "2.1.0",
        "\r\n",
        "\n",
        "\r",
        "-",
        " ",
        "5",
        "\u0000",
        "ü",
      ),
      fc.string({ maxLength: 8 }),
    ),
    { maxLength: 30 },
  ).map((parts) => parts.join(""));
  fc.assert(
    fc.property(fc.oneof(noisy, fc.string()), (text) => {
      const step = parseReply(text);
      assert.ok(["reply", "garbage"].includes(step.kind));
    }),
    { numRuns: 2_000 },
  );
});

/** A stream that yields `chunks`, then end of stream, and swallows writes. */
function scriptedStream(chunks: Uint8Array[]): ByteStream {
  let i = 0;
  return {
    read: (p) => {
      const chunk = chunks[i++];
      if (!chunk) return Promise.resolve(null);
      const n = Math.min(p.length, chunk.length);
      p.set(chunk.subarray(0, n));
      return Promise.resolve(n);
    },
    write: (p) => Promise.resolve(p.length),
    close: () => {},
  };
}

Deno.test("openSession() classifies random peer bytes without throwing", async () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.array(
      fc.constantFrom("220 hi\r\n", "250-x\r\n", "250 ok\r\n", "421 bye\r\n", "\r\n", "junk", "\n"),
      {
        maxLength: 8,
      },
    ).map((parts) => new TextEncoder().encode(parts.join(""))),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(bytes, { maxLength: 4 }), async (chunks) => {
      const opened = await openSession(scriptedStream(chunks), {
        clock: new FakeClock(),
        heloName: "relay.ferry.test",
        peerName: "peer.test",
      });
      if (opened.kind === "ready") opened.session.close();
      else assert.equal(opened.failure.scope, "connection");
    }),
    { numRuns: 500 },
  );
});

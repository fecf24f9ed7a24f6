/**
 * nodeBytes() builds the bytes of plain text and html messages without nodemailer's streams;
 * they must be the bytes the streams give (streamedNodeBytes(), nodemailer's own stream()), for
 * any text: property-tested over random bodies and subjects (UTF-8, long lines, trailing white
 * space, lone CR and LF, dot lines, near the quoted-printable line length), with and without
 * html, with extra header fields, with an attachment, and for what it leaves to the stream
 * (quoted-printable over 64 KiB).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import {
  directNodeBytes,
  type MimeNodeLike,
  nodeBytes,
  streamedNodeBytes,
} from "../../../relay/mime/node_bytes.ts";

interface Mail {
  subject?: string;
  text?: string;
  html?: string;
  attachment?: string;
}

function compile(mail: Mail): MimeNodeLike {
  const node = new MailComposer({
    from: { name: "Zoë", address: "zoe@example.com" },
    to: [{ name: "", address: "bob@example.net" }],
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    date: new Date(Date.UTC(2030, 0, 1)),
    messageId: "<fixed@example.com>",
    baseBoundary: "fixedboundary",
    attachments: mail.attachment === undefined
      ? []
      : [{ filename: "a.txt", content: Buffer.from(mail.attachment), contentType: "text/plain" }],
  }).compile();
  node.addHeader("X-Campaign", "spring ☀");
  return node as unknown as MimeNodeLike;
}

const decoder = new TextDecoder();

/** nodeBytes() equals the stream's bytes; `direct`: and they were built without the stream. */
async function same(mail: Mail, direct: boolean): Promise<void> {
  const streamed = decoder.decode(await streamedNodeBytes(compile(mail)));
  assert.equal(decoder.decode(await nodeBytes(compile(mail))), streamed);
  const built = directNodeBytes(compile(mail));
  assert.equal(built !== undefined, direct, direct ? "built directly" : "left to the stream");
  if (built) assert.equal(decoder.decode(built), streamed);
}

const piece = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom(
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "  \n",
    ".",
    "\n.\n",
    "=",
    "ü",
    "☀",
    "x".repeat(75),
    "y".repeat(76),
    "z".repeat(200),
    "ä".repeat(30),
  ),
);
const textArb = fc.array(piece, { maxLength: 30 }).map((p) => p.join(""));

Deno.test("nodeBytes() gives the bytes nodemailer's stream gives, for any text, html and subject", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        subject: textArb,
        text: textArb,
        html: fc.option(textArb, { nil: undefined }),
        attachment: fc.option(textArb, { nil: undefined }),
      }),
      (mail) => same(mail, true),
    ),
    { numRuns: Number(Deno.env.get("RUNS") ?? 1000) },
  );
});

Deno.test("nodeBytes() matches the stream for attachments, base64 and large bodies", async () => {
  await same({ text: "see attached", attachment: "content\n" }, true);
  await same({ text: "日本語のテキスト ".repeat(20) }, true);
  await same({ text: "ünïcode ".repeat(20_000) }, false);
  await same({ text: "plain ascii\n".repeat(10) }, true);
  await same({ text: "ü".repeat(76 * 3) + "x".repeat(20_000) + "   \t ", html: "y \t" }, true);
  await same({ text: "x".repeat(75) + "\t\t" }, true);
  await same({ text: " \t " }, true);
  await same({ html: "<p>only html</p>" }, true);
  await same({}, true);
});

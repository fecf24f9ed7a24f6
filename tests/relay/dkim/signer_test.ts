/**
 * Signatures are checked by an independent verifier: mailauth's dkimVerify, given the public
 * keys through its `resolver` option (the TXT records dkimDnsRecord() would publish).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { generateKeyPairSync } from "node:crypto";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { createDkimSigner, type DkimSignerOptions } from "../../../relay/dkim/signer.ts";
import { dkimDnsRecord, type DkimKeyConfig } from "../../../relay/dkim/keys.ts";
import { composeMessage } from "../../../relay/mime/compose.ts";
import { canonicalLineEnds } from "../../../relay/mime/canonical_lines.ts";
import fc from "fast-check";

const NOW = Date.UTC(2026, 3, 1, 8, 30, 0);

function pem(type: "rsa" | "ed25519"): string {
  const { privateKey } = type === "rsa"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ed25519");
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

const RSA: DkimKeyConfig = {
  domain: "example.com",
  selector: "rsa2026",
  privateKey: pem("rsa"),
  algorithm: "rsa-sha256",
};
const ED: DkimKeyConfig = {
  domain: "example.com",
  selector: "ed2026",
  privateKey: pem("ed25519"),
  algorithm: "ed25519-sha256",
};
const PARENT: DkimKeyConfig = {
  domain: "corp.example",
  selector: "s1",
  privateKey: pem("ed25519"),
  algorithm: "ed25519-sha256",
  subdomains: true,
};

const DNS = new Map(
  [RSA, ED, PARENT].map((
    k,
  ) => [`${k.selector}._domainkey.${k.domain}`, dkimDnsRecord(k.privateKey)]),
);

/** Each signature's result, with mailauth's comment when it is not a pass. */
async function verify(message: Uint8Array): Promise<string[]> {
  const result = await dkimVerify(Buffer.from(message), {
    resolver: (name: string) => {
      const record = DNS.get(name);
      if (!record) {
        return Promise.reject(Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" }));
      }
      return Promise.resolve([[record]]);
    },
    curTime: new Date(NOW),
  });
  return result.results.map((r) =>
    r.status.result === "pass" ? "pass" : `${r.status.result}: ${r.status.comment}`
  );
}

function signer(keys: DkimKeyConfig[], extra: Partial<DkimSignerOptions> = {}) {
  return createDkimSigner({ keys, clock: new FakeClock(NOW), ...extra });
}

async function signed(keys: DkimKeyConfig[], message: Uint8Array, extra = {}) {
  const result = await signer(keys, extra).sign(message);
  assert.equal(result.kind, "signed", result.kind === "signed" ? "" : result.reason);
  return result.kind === "signed" ? result.message : message;
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const RAW = bytes(
  "From: Zoë <zoe@example.com>\nTo: jörg@example.net\nSubject: raw, bare LF\n" +
    "Message-ID: <raw@example.com>\n\nHällo\n.dot line\n\n\n",
);

async function composed(): Promise<Uint8Array> {
  const result = await composeMessage({
    id: 7,
    from: "Zoë Ünïcode <zoe@example.com>",
    to: ["bob@example.net"],
    cc: ["carol@example.org"],
    subject: "Grüße — DKIM",
    text: "Hallo\n",
    html: "<p>Hallo</p>",
    headers: { "List-Unsubscribe": "<mailto:u@example.com>" },
    createdAt: NOW,
  }, { messageIdDomain: "example.com", clock: new FakeClock(NOW) });
  assert.equal(result.kind, "composed");
  return result.kind === "composed" ? result.message.bytes : new Uint8Array();
}

for (const key of [RSA, ED]) {
  Deno.test(`sign() makes a ${key.algorithm} signature that verifies, on a composed message`, async () => {
    const message = await signed([key], await composed());
    assert.deepEqual(await verify(message), ["pass"]);
    assert.match(
      text(message),
      new RegExp(`^DKIM-Signature: v=1; a=${key.algorithm}; c=relaxed/relaxed;`),
    );
  });

  Deno.test(`sign() makes a ${key.algorithm} signature that verifies, on a raw message, before and after CRLF normalisation`, async () => {
    const message = await signed([key], RAW);
    assert.deepEqual(await verify(message), ["pass"]);
    const crlf = bytes(text(message).replace(/\r?\n/g, "\r\n"));
    assert.deepEqual(await verify(crlf), ["pass"]);
  });

  Deno.test(`sign() with ${key.algorithm}: a changed body or Subject fails verification`, async () => {
    const message = text(await signed([key], await composed()));
    // RFC 6376 §6.1.3: a body hash mismatch; mailauth reports it as neutral.
    assert.deepEqual(await verify(bytes(message.replace("Hallo", "Hullo"))), [
      "neutral: body hash did not verify",
    ]);
    const subject = message.replace("\r\nSubject: ", "\r\nSubject: Re: ");
    assert.deepEqual(await verify(bytes(subject)), ["fail: bad signature"]);
  });
}

Deno.test("sign() copies the message after the signature byte for byte", async () => {
  const message = await signed([ED], RAW);
  assert.deepEqual(message.subarray(message.length - RAW.length), RAW);
});

Deno.test("sign() oversigns From, so a From added on top fails verification", async () => {
  const forged = (m: Uint8Array) => bytes(`From: ceo@example.com\r\n${text(m)}`);
  const message = await signed([ED], RAW);
  // h= lists From twice (the one From, and once more that matches none).
  assert.match(text(message).replace(/\s+/g, ""), /h=(?:[^;]*:)?From:From[:;]/);
  assert.deepEqual(await verify(forged(message)), ["fail: bad signature"]);
  // Without oversigning the forgery passes, which is why From is oversigned by default.
  const plain = await signed([ED], RAW, { oversign: [] });
  assert.deepEqual(await verify(forged(plain)), ["pass"]);
});

Deno.test("sign() oversigns a field the message lacks, so adding it fails verification", async () => {
  const message = await signed([RSA], RAW, { oversign: ["from", "reply-to"] });
  assert.deepEqual(await verify(message), ["pass"]);
  const added = bytes(
    text(message).replace("\nSubject: raw", "\nReply-To: evil@example.org\nSubject: raw"),
  );
  assert.deepEqual(await verify(added), ["fail: bad signature"]);
  const plain = await signed([RSA], RAW);
  const addedToPlain = bytes(
    text(plain).replace("\nSubject: raw", "\nReply-To: e@x.org\nSubject: raw"),
  );
  assert.deepEqual(await verify(addedToPlain), ["pass"]);
});

Deno.test("sign() signs with every key of the domain (RSA and Ed25519 side by side)", async () => {
  const result = await signer([RSA, ED]).sign(RAW);
  assert.equal(result.kind, "signed");
  assert.deepEqual(result.kind === "signed" ? result.signatures : [], [
    { domain: "example.com", selector: "rsa2026", algorithm: "rsa-sha256" },
    { domain: "example.com", selector: "ed2026", algorithm: "ed25519-sha256" },
  ]);
  assert.deepEqual(await verify(result.message), ["pass", "pass"]);
});

Deno.test("sign() takes t= from the injected clock and adds x= when signatures expire", async () => {
  const message = text(await signed([ED], RAW, { expireAfterSeconds: 86_400 }));
  assert.match(message, new RegExp(`t=${NOW / 1000};`));
  assert.match(message, new RegExp(`x=${NOW / 1000 + 86_400};`));
});

Deno.test("sign() gives the same bytes for the same message and time", async () => {
  assert.deepEqual(await signed([RSA, ED], RAW), await signed([RSA, ED], RAW));
});

Deno.test("sign() chooses the key by the From domain: exact, then a parent with subdomains", async () => {
  const fromSub = bytes("From: news@mail.corp.example\r\nSubject: x\r\n\r\nbody\r\n");
  const result = await signer([RSA, PARENT]).sign(fromSub);
  assert.deepEqual(result.kind === "signed" ? result.signatures.map((s) => s.domain) : result, [
    "corp.example",
  ]);
  assert.deepEqual(await verify(result.message), ["pass"]);
  const fromSubOfExact = bytes("From: a@sub.example.com\r\n\r\nx\r\n");
  assert.deepEqual(await signer([RSA]).sign(fromSubOfExact), {
    kind: "unsigned",
    message: fromSubOfExact,
    reason: "no DKIM key for sub.example.com",
  });
});

Deno.test("sign() leaves a message unsigned when it has no usable From", async () => {
  const s = signer([RSA]);
  const noFrom = bytes("Subject: x\r\n\r\nbody\r\n");
  assert.deepEqual(await s.sign(noFrom), {
    kind: "unsigned",
    message: noFrom,
    reason: "the message has no From field",
  });
  const groupOnly = await s.sign(bytes("From: undisclosed:;\r\n\r\nx\r\n"));
  assert.equal(groupOnly.kind, "unsigned");
  const mixedCase = await s.sign(bytes('FROM: "A, B" <a@EXAMPLE.com>\r\n\r\nx\r\n'));
  assert.equal(mixedCase.kind, "signed");
});

Deno.test("createDkimSigner() refuses header lists without From or oversigning unsigned fields", () => {
  assert.throws(() => signer([RSA], { headers: ["subject"] }), /'headers' must include From/);
  assert.throws(
    () => signer([RSA], { headers: ["from"], oversign: ["subject"] }),
    /every 'oversign' field must also be in 'headers': subject/,
  );
  assert.throws(() => signer([RSA], { expireAfterSeconds: 0 }), /'expireAfterSeconds' must be > 0/);
});

Deno.test("sign() makes signatures mailauth verifies, whatever white space, folds and line ends the message holds", async () => {
  const piece = fc.constantFrom(
    "a",
    "Zz",
    " ",
    "  ",
    "\t",
    " \t ",
    "\r\n",
    "\n",
    "\r",
    "ü",
    ".",
    ":",
  );
  const text = (max: number) => fc.array(piece, { maxLength: max }).map((a) => a.join(""));
  const foldable = fc.array(fc.constantFrom("x", "y z", " ", "\t", "\r\n "), { maxLength: 12 })
    .map((a) => a.join(""));
  await fc.assert(
    fc.asyncProperty(
      foldable,
      foldable,
      fc.constantFrom("", " ", "\t"),
      text(40),
      async (subject, to, beforeColon, body) => {
        const message = bytes(
          `From: a@example.com\r\nSubject${beforeColon}:${subject}\r\nTo:${to}\r\n\r\n${body}`,
        );
        const result = await signer([RSA, ED]).sign(message);
        assert.equal(result.kind, "signed");
        // What the receiver gets: the SMTP layer sends bare CR and LF as CRLF.
        const wire = canonicalLineEnds(result.message);
        assert.deepEqual(await verify(wire), ["pass", "pass"]);
      },
    ),
    { numRuns: 60, seed: 20261204 },
  );
});

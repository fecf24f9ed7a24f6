/**
 * One-click unsubscribe tokens: what one key signs verifies, and any change to any field, a
 * token of another key, an old token or garbage is refused with why (never an exception).
 */
import assert from "node:assert/strict";
import { Secret } from "../../../lib/secret.ts";
import {
  constantTimeEqual,
  type UnsubscribeClaims,
  UnsubscribeTokens,
} from "../../../relay/unsubscribe/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";

const T0 = Date.UTC(2030, 0, 1);
const DAY = 86_400_000;
const KEY = new Secret("unsubscribe-key-0123456789abcdef0123");
const CLAIMS: UnsubscribeClaims = {
  deliveryId: 41,
  outboxId: 7,
  recipient: "ada@example.org",
  senderDomain: "news.example.com",
  issuedAt: T0 / 1000,
};

function tokens(clock = new FakeClock(T0), key = KEY): UnsubscribeTokens {
  return new UnsubscribeTokens(key, 30 * DAY, clock);
}

/** The token with its payload's JSON array rewritten by `edit`, signature kept. */
function tampered(token: string, edit: (fields: unknown[]) => void): string {
  const [payload, mac] = token.split(".");
  const fields = JSON.parse(atob(payload!.replaceAll("-", "+").replaceAll("_", "/")));
  edit(fields);
  const encoded = btoa(JSON.stringify(fields)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  return `${encoded}.${mac}`;
}

Deno.test("UnsubscribeTokens.verify() accepts a token it signed and returns its claims", async () => {
  const t = tokens();
  const token = await t.sign(CLAIMS);
  assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(await t.verify(token), { ok: true, claims: CLAIMS });
});

Deno.test("UnsubscribeTokens.sign() lower-cases the recipient and the domain", async () => {
  const t = tokens();
  const token = await t.sign({
    ...CLAIMS,
    recipient: "Ada@Example.ORG",
    senderDomain: "NEWS.example.com",
  });
  assert.deepEqual(await t.verify(token), { ok: true, claims: CLAIMS });
});

Deno.test("UnsubscribeTokens.verify() refuses a change to any field as forged", async () => {
  const t = tokens();
  const token = await t.sign(CLAIMS);
  const edits: [string, (f: unknown[]) => void][] = [
    ["deliveryId", (f) => (f[1] = 42)],
    ["outboxId", (f) => (f[2] = 8)],
    ["recipient", (f) => (f[3] = "bob@example.org")],
    ["senderDomain", (f) => (f[4] = "other.example.com")],
    ["issuedAt", (f) => (f[5] = (f[5] as number) + 1)],
  ];
  for (const [field, edit] of edits) {
    const check = await t.verify(tampered(token, edit));
    assert.equal(check.ok, false, field);
    assert.equal(!check.ok && check.problem, "forged", field);
  }
  // A flipped character of the signature, too.
  const last = token.at(-2) === "A" ? "B" : "A";
  const flipped = `${token.slice(0, -2)}${last}${token.at(-1)}`;
  const check = await t.verify(flipped);
  assert.equal(!check.ok && check.problem, "forged");
});

Deno.test("UnsubscribeTokens.verify() refuses a token signed with another key", async () => {
  const other = tokens(new FakeClock(T0), new Secret("another-key-0123456789abcdef012345"));
  const check = await tokens().verify(await other.sign(CLAIMS));
  assert.deepEqual(check, { ok: false, problem: "forged", reason: "the signature does not match" });
});

Deno.test("UnsubscribeTokens.verify() refuses a token past its lifetime as expired", async () => {
  const clock = new FakeClock(T0);
  const t = tokens(clock);
  const token = await t.sign(CLAIMS);
  await clock.advance(30 * DAY);
  assert.equal((await t.verify(token)).ok, true, "still valid at exactly the lifetime");
  await clock.advance(1000);
  const check = await t.verify(token);
  assert.equal(!check.ok && check.problem, "expired");
});

Deno.test("UnsubscribeTokens.verify() refuses garbage as malformed without throwing", async () => {
  const t = tokens();
  const token = await t.sign(CLAIMS);
  for (
    const bad of [
      "",
      "abc",
      "a.b.c",
      "%%%.%%%",
      `${token}x`.replace(".", "!"),
      "x".repeat(5000),
      `${token.split(".")[0]}.`,
    ]
  ) {
    const check = await t.verify(bad);
    assert.equal(check.ok, false, bad.slice(0, 20));
    assert.ok(!check.ok && ["malformed", "forged"].includes(check.problem), bad.slice(0, 20));
  }
});

Deno.test("constantTimeEqual() compares whole arrays", () => {
  assert.equal(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])), true);
  assert.equal(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])), false);
  assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])), false);
});

Deno.test("new UnsubscribeTokens() refuses a lifetime that is not positive", () => {
  assert.throws(() => new UnsubscribeTokens(KEY, 0, new FakeClock(T0)), RangeError);
});

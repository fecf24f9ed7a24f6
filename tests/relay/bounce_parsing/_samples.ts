/**
 * The sample bounces in tests/_fixtures/bounces/ and what each must parse to. Shared by the
 * parser tests and the processor tests against Dovecot.
 */
import assert from "node:assert/strict";
import type { BounceClass, BounceOutcome, VerpKey } from "../../../relay/bounce_parsing/mod.ts";

/** The key the samples' VERP addresses were made with. */
export const SAMPLE_VERP: VerpKey = {
  prefix: "bounces",
  domain: "bounce.ferry.test",
  secret: "fixture-secret-0123456789abcdef",
};

export const SAMPLES_DIR = new URL("../../_fixtures/bounces/", import.meta.url);

export type Expected =
  | {
    readonly kind: "bounce";
    readonly recipient: string;
    readonly status: string;
    readonly class: BounceClass;
    readonly hard: boolean;
    readonly action: "failed" | "delayed";
    readonly verpId?: string;
    readonly originalMessageId: string;
  }
  | {
    readonly kind: "complaint";
    readonly feedbackType: string;
    readonly recipient: string;
    readonly verpId: string;
    readonly originalMessageId: string;
  }
  | { readonly kind: "unrecognised"; readonly reason: RegExp; readonly originalMessageId?: string };

const mid = (id: string) => `<ferry.${id}@mail.ferry.test>`;

export const EXPECTED: Readonly<Record<string, Expected>> = {
  "postfix_user_unknown.eml": {
    kind: "bounce",
    recipient: "nobody@example.org",
    status: "5.1.1",
    class: "invalid_recipient",
    hard: true,
    action: "failed",
    verpId: "1001",
    originalMessageId: mid("1001.7f3a"),
  },
  "postfix_mailbox_full.eml": {
    kind: "bounce",
    recipient: "full.box@example.org",
    status: "5.2.2",
    class: "mailbox_full",
    hard: false,
    action: "failed",
    verpId: "1002",
    originalMessageId: mid("1002.9b1c"),
  },
  "gmail_no_such_user.eml": {
    kind: "bounce",
    recipient: "no.such.person@example.com",
    status: "5.1.1",
    class: "invalid_recipient",
    hard: true,
    action: "failed",
    verpId: "1003",
    originalMessageId: mid("1003.c2d4"),
  },
  "microsoft_recipient_not_found.eml": {
    kind: "bounce",
    recipient: "alex.doe@contoso.example",
    status: "5.1.10",
    class: "invalid_recipient",
    hard: true,
    action: "failed",
    verpId: "1004",
    originalMessageId: mid("1004.d5e6"),
  },
  "qmail_no_mailbox.eml": {
    kind: "bounce",
    recipient: "gone@example.net",
    status: "5.1.1",
    class: "invalid_recipient",
    hard: true,
    action: "failed",
    verpId: "1005",
    originalMessageId: mid("1005.f7a8"),
  },
  "arf_abuse.eml": {
    kind: "complaint",
    feedbackType: "abuse",
    recipient: "reader@mail.example",
    verpId: "1006",
    originalMessageId: mid("1006.3f40"),
  },
  "postfix_delayed.eml": {
    kind: "bounce",
    recipient: "slow@example.org",
    status: "4.4.1",
    class: "other",
    hard: false,
    action: "delayed",
    verpId: "1007",
    originalMessageId: mid("1007.5e6f"),
  },
  "exchange_spam_block.eml": {
    kind: "bounce",
    recipient: "sam.buyer@fabrikam.example",
    status: "5.7.1",
    class: "spam_or_policy",
    hard: true,
    action: "failed",
    verpId: "1008",
    originalMessageId: mid("1008.0b1c"),
  },
  "postfix_message_too_large.eml": {
    kind: "bounce",
    recipient: "big.files@example.org",
    status: "5.3.4",
    class: "message_too_large",
    hard: true,
    action: "failed",
    verpId: "1009",
    originalMessageId: mid("1009.2d3e"),
  },
  // No VERP (sent to the plain bounce address): matched by the returned copy's Message-ID.
  "exim_unrouteable.eml": {
    kind: "bounce",
    recipient: "someone@no-such-domain.example",
    status: "5.0.0",
    class: "dns",
    hard: true,
    action: "failed",
    originalMessageId: mid("2001.aa11"),
  },
  "auto_reply.eml": {
    kind: "unrecognised",
    reason: /^auto-reply: Automatic reply/,
    originalMessageId: mid("1010.6a7b"),
  },
  "human_reply.eml": { kind: "unrecognised", reason: /^not a bounce/ },
};

/** Every sample file name, sorted. */
export function sampleNames(): string[] {
  return [...Deno.readDirSync(SAMPLES_DIR)].map((e) => e.name).filter((n) => n.endsWith(".eml"))
    .sort();
}

export function readSample(name: string): Uint8Array {
  return Deno.readFileSync(new URL(name, SAMPLES_DIR));
}

/** Asserts that `got` is what sample `name` must parse to. */
export function checkOutcome(name: string, got: BounceOutcome, want: Expected): void {
  assert.equal(got.kind, want.kind, `${name}: ${JSON.stringify(got)}`);
  if (want.kind === "unrecognised") {
    assert.ok(got.kind === "unrecognised" && want.reason.test(got.reason), `${name}: reason`);
    assert.equal(got.originalMessageId, want.originalMessageId, `${name}: Message-ID`);
    assert.equal(got.verpId, undefined, `${name}: VERP`);
    return;
  }
  const { kind: _, ...fields } = want;
  for (const [key, value] of Object.entries(fields)) {
    assert.deepEqual((got as unknown as Record<string, unknown>)[key], value, `${name}: ${key}`);
  }
  if (want.kind === "bounce" && got.kind === "bounce") {
    assert.equal(got.verpId, want.verpId, `${name}: VERP`);
    assert.ok(got.diagnostic.length > 0, `${name}: diagnostic`);
  }
}

/** The sample an outcome came from, found by its original Message-ID (unique per sample). */
export function sampleOf(outcome: BounceOutcome): string {
  const id = outcome.originalMessageId;
  const name = Object.keys(EXPECTED).find((n) => {
    const want = EXPECTED[n]!;
    return "originalMessageId" in want && want.originalMessageId === id;
  });
  return name ?? "human_reply.eml";
}

/** Deliveries a database would know for the samples: VERP ids and Message-IDs. */
export function sampleDeliveries(): Map<string, { messageId: string }> {
  const deliveries = new Map<string, { messageId: string }>();
  for (const want of Object.values(EXPECTED)) {
    if (want.kind === "unrecognised" || !want.originalMessageId) continue;
    const id = want.verpId ?? /ferry\.(\d+)\./.exec(want.originalMessageId)![1]!;
    deliveries.set(id, { messageId: want.originalMessageId });
  }
  return deliveries;
}

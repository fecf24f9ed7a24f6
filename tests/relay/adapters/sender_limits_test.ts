import assert from "node:assert/strict";
import { senderKeyOf, senderLimits } from "../../../relay/adapters/sender_limits.ts";
import { RATE_MARGIN } from "../../../actors/create_actor.ts";
import type { SenderBudgetStore } from "../../../actors/sender_budgets.ts";

const KEYS = new Set(["noisy.example", "tenant:acme"]);

Deno.test("senderKeyOf() picks the tenant's entry, else the From domain's, else none", () => {
  assert.equal(senderKeyOf(KEYS, "App <app@noisy.example>", null), "noisy.example");
  assert.equal(senderKeyOf(KEYS, "app@NOISY.Example", null), "noisy.example", "case-blind");
  assert.equal(senderKeyOf(KEYS, "app@quiet.example", "acme"), "tenant:acme");
  assert.equal(senderKeyOf(KEYS, "app@noisy.example", "acme"), "tenant:acme", "tenant first");
  assert.equal(senderKeyOf(KEYS, "app@noisy.example", "other"), "noisy.example");
  assert.equal(senderKeyOf(KEYS, "app@quiet.example", null), undefined);
  assert.equal(senderKeyOf(KEYS, "not an address", null), undefined);
  assert.equal(senderKeyOf(KEYS, null, null), undefined);
});

Deno.test("senderLimits() widens every rate by the relay's margin, and is absent without senders", () => {
  const calls: number[] = [];
  const store: SenderBudgetStore = {
    reserve(_key, rates, cells, now) {
      calls.push(rates[0]!.perMs);
      return Promise.resolve(
        rates.map((r) => ({ start: now, end: now + cells * r.perMs / r.count })),
      );
    },
  };
  assert.equal(senderLimits({}, store), undefined);
  const s = senderLimits({ "noisy.example": { rate: [{ count: 10, perMs: 1_000 }] } }, store)!;
  assert.deepEqual([...s.keys], ["noisy.example"]);
  s.budgets.take("noisy.example", 0, 1);
  assert.deepEqual(calls, [1_000 * RATE_MARGIN]);
});

import assert from "node:assert/strict";
import { signWebhook, verifyWebhookSignature } from "../../../relay/webhooks/signature.ts";
import { webhookRetryDelay } from "../../../relay/webhooks/schedule.ts";
import { webhooksSchema } from "../../../relay/webhooks/config.ts";

const secret = "s3cret-s3cret-s3cret";

Deno.test("signWebhook() produces t=<unix>,v1=<hmac-sha256 of t.body> that verifies", () => {
  const header = signWebhook(secret, '{"a":1}', 1_767_225_600);
  // `printf '%s' '1767225600.{"a":1}' | openssl dgst -sha256 -hmac 's3cret-s3cret-s3cret'`
  assert.equal(
    header,
    "t=1767225600,v1=98bc37492894e7975d7c1e063c06df3c41c32e3dd11a96e31795d0f457464d28",
  );
  const ok = verifyWebhookSignature(header, '{"a":1}', secret, { nowSeconds: 1_767_225_650 });
  assert.deepEqual(ok, { kind: "valid", timestamp: 1_767_225_600 });
  const checks: [string | null, string, string, number, RegExp][] = [
    [header, '{"a":2}', secret, 1_767_225_600, /mismatch/],
    [header, '{"a":1}', "another-secret-value", 1_767_225_600, /mismatch/],
    [header, '{"a":1}', secret, 1_767_225_600 + 301, /tolerance/],
    [header.replace(/t=\d+/, "t=1767225601"), '{"a":1}', secret, 1_767_225_600, /mismatch/],
    [null, '{"a":1}', secret, 1_767_225_600, /no signature/],
    ["v1=abc", '{"a":1}', secret, 1_767_225_600, /no timestamp/],
  ];
  for (const [h, body, key, now, reason] of checks) {
    const r = verifyWebhookSignature(h, body, key, { nowSeconds: now });
    assert.equal(r.kind, "invalid");
    assert.match(r.kind === "invalid" ? r.reason : "", reason);
  }
  // Rotation: the receiver accepts either of two v1 values.
  const old = signWebhook("old-secret-old-secret", '{"a":1}', 1_767_225_600).split(",")[1];
  const both = `${header},${old}`;
  assert.equal(
    verifyWebhookSignature(both, '{"a":1}', "old-secret-old-secret", {
      nowSeconds: 1_767_225_600,
    }).kind,
    "valid",
  );
});

Deno.test("webhookRetryDelay() doubles from the base up to the cap", () => {
  const schedule = Array.from(
    { length: 12 },
    (_, i) => webhookRetryDelay(i + 1, { baseMs: 30_000, maxMs: 6 * 3_600_000 }) / 1000,
  );
  assert.deepEqual(schedule, [30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600]);
  assert.equal(webhookRetryDelay(500, { baseMs: 1000, maxMs: 5000 }), 5000);
  assert.throws(() => webhookRetryDelay(0, { baseMs: 1, maxMs: 1 }), /'attempt' must be >= 1/);
});

Deno.test("webhooksSchema fills defaults and rejects bad values by key", () => {
  const c = webhooksSchema.parse({ urls: ["https://hooks.test/x"], secret });
  assert.equal(c.timeout, 10_000);
  assert.equal(c.retryBase, 30_000);
  assert.deepEqual(c.events, [
    "delivered",
    "deferred",
    "bounced",
    "expired",
    "complaint",
    "unsubscribed",
    "alert.raised",
    "alert.resolved",
  ]);
  for (
    const [input, path] of [
      [{ urls: ["ftp://x.test"], secret }, "urls.0"],
      [{ urls: [], secret }, "urls"],
      [{ urls: ["https://x.test"], secret: "short" }, "secret"],
      [{ urls: ["https://x.test"], secret, events: ["opened"] }, "events.0"],
      [{ urls: ["https://x.test"], secret, timeout: "soon" }, "timeout"],
      [{ urls: ["https://x.test"], secret, colour: 1 }, ""],
    ] as const
  ) {
    const r = webhooksSchema.safeParse(input);
    assert.equal(r.success, false);
    assert.equal(r.error!.issues[0]!.path.join("."), path);
  }
});

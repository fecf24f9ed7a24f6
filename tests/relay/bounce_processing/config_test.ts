import assert from "node:assert/strict";
import { bounceConfigSchema } from "../../../relay/bounce_processing/config.ts";
import {
  bounceLoopOptions,
  verpKeyFromConfig,
} from "../../../relay/bounce_processing/from_config.ts";
import { Secret } from "../../../lib/secret.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeSink } from "./_fake_sink.ts";

const MINIMAL = {
  host: "pop.example.com",
  username: "bounces",
  password: "pop-password",
  verp: { domain: "bounce.example.com", secret: "0123456789abcdef" },
};

Deno.test("bounceConfigSchema fills defaults: implicit TLS on 995, 60 s polls", () => {
  const config = bounceConfigSchema.parse(MINIMAL);
  assert.equal(config.tls, "implicit");
  assert.equal(config.port, 995);
  assert.equal(config.auth, "user");
  assert.equal(config.pollInterval, 60_000);
  assert.equal(config.commandTimeout, 30_000);
  assert.equal(config.maxMessagesPerPoll, 200);
  assert.equal(config.verp.prefix, "bounces");
  assert.equal(bounceConfigSchema.parse({ ...MINIMAL, tls: "starttls" }).port, 110);
  assert.equal(bounceConfigSchema.parse({ ...MINIMAL, pollInterval: "5m" }).pollInterval, 300_000);
});

Deno.test("bounceConfigSchema rejects unknown keys, bad durations and short secrets", () => {
  const bad: unknown[] = [
    { ...MINIMAL, pasword: "typo" },
    { ...MINIMAL, verp: { ...MINIMAL.verp, extra: 1 } },
    { ...MINIMAL, pollInterval: "60" },
    { ...MINIMAL, pollInterval: "10ms" },
    { ...MINIMAL, tls: "ssl" },
    { ...MINIMAL, port: 70000 },
    { ...MINIMAL, verp: { ...MINIMAL.verp, secret: "short" } },
    { ...MINIMAL, verp: { ...MINIMAL.verp, prefix: "a+b" } },
    { ...MINIMAL, host: "pop example" },
  ];
  for (const input of bad) {
    assert.equal(bounceConfigSchema.safeParse(input).success, false, JSON.stringify(input));
  }
});

Deno.test("bounceConfigSchema refuses a plaintext password unless explicitly allowed", () => {
  const plain = bounceConfigSchema.safeParse({ ...MINIMAL, tls: "none" });
  assert.equal(plain.success, false);
  assert.match(JSON.stringify(plain.error?.issues), /Cannot send the password in plaintext/);
  assert.equal(
    bounceConfigSchema.safeParse({ ...MINIMAL, tls: "none", auth: "apop" }).success,
    true,
  );
  assert.equal(
    bounceConfigSchema.safeParse({ ...MINIMAL, tls: "none", allowPlaintextAuth: true }).success,
    true,
  );
});

Deno.test("bounceConfigSchema output never prints its secrets", () => {
  const config = bounceConfigSchema.parse(MINIMAL);
  assert.ok(config.password instanceof Secret);
  const shown = [
    JSON.stringify(config),
    String(config.password),
    Deno.inspect(config, { depth: 9 }),
  ];
  for (const text of shown) {
    assert.ok(!text.includes("pop-password"), text);
    assert.ok(!text.includes("0123456789abcdef"), text);
  }
  assert.equal(config.password.reveal(), "pop-password");
  assert.deepEqual(verpKeyFromConfig(config), {
    prefix: "bounces",
    domain: "bounce.example.com",
    secret: "0123456789abcdef",
  });
});

Deno.test("bounceLoopOptions() wires the config into the poller", () => {
  const config = bounceConfigSchema.parse({ ...MINIMAL, tls: "starttls", auth: "apop" });
  const options = bounceLoopOptions(config, {
    clock: new FakeClock(),
    sink: new FakeSink(),
    signal: new AbortController().signal,
  });
  assert.equal(options.mailbox, "bounces@pop.example.com:110");
  assert.equal(options.pollIntervalMs, 60_000);
  assert.equal(options.credentials.user, "bounces");
  assert.equal(options.credentials.password.reveal(), "pop-password");
  assert.equal(options.credentials.method, "apop");
  assert.equal(options.verp?.secret, "0123456789abcdef");
});

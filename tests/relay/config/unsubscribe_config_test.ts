/**
 * The `unsubscribe` section and `FERRY_PUBLIC_LISTEN`: off by default, https required (http
 * only for a loopback host), the key from `secret` or `secretFile`, and every mistake a
 * ConfigError naming the key.
 */
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../../relay/config/config.ts";

const KEY = "0123456789abcdef0123456789abcdef";
const host = () => "relay.test";

function load(
  section: unknown,
  env: Record<string, string> = {},
  files: Record<string, string> = {},
) {
  return loadConfig(
    { FERRY_CONFIG: "ferry.json", ...env },
    (path) => {
      if (path === "ferry.json") return JSON.stringify({ unsubscribe: section });
      if (path in files) return files[path]!;
      throw new Deno.errors.NotFound(`no ${path}`);
    },
    host,
  );
}

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("loadConfig() leaves one-click unsubscribe and the public listener off by default", () => {
  const c = loadConfig({}, () => "{}", host);
  assert.equal(c.unsubscribe, undefined);
  assert.equal(c.publicListen, undefined);
});

Deno.test("loadConfig() reads the unsubscribe section, its defaults and FERRY_PUBLIC_LISTEN", () => {
  const c = load({ publicUrl: "https://mail.example.com/ferry", secret: KEY }, {
    FERRY_PUBLIC_LISTEN: "[::1]:8788",
  });
  assert.equal(c.unsubscribe!.publicUrl, "https://mail.example.com/ferry");
  assert.equal(c.unsubscribe!.secret.reveal(), KEY);
  assert.equal(String(c.unsubscribe!.secret), "[redacted]");
  assert.equal(c.unsubscribe!.tokenLifetime, 90 * 86_400_000);
  assert.equal(c.unsubscribe!.maxBodySize, 4096);
  assert.deepEqual(c.publicListen, { hostname: "::1", port: 8788 });
});

Deno.test("loadConfig() reads the unsubscribe key from secretFile without its final newline", () => {
  const c = load({ publicUrl: "https://mail.example.com", secretFile: "/run/key" }, {}, {
    "/run/key": `${KEY}\n`,
  });
  assert.equal(c.unsubscribe!.secret.reveal(), KEY);
  assert.match(
    refusal(() =>
      load({ publicUrl: "https://mail.example.com", secretFile: "/run/short" }, {}, {
        "/run/short": "short\n",
      })
    ),
    /unsubscribe\.secretFile.*at least 32/,
  );
  assert.match(
    refusal(() => load({ publicUrl: "https://mail.example.com", secretFile: "/nope" })),
    /unsubscribe\.secretFile.*cannot read \/nope/,
  );
});

Deno.test("loadConfig() refuses a plain-http public URL unless it is loopback", () => {
  assert.match(
    refusal(() => load({ publicUrl: "http://mail.example.com", secret: KEY })),
    /unsubscribe\.publicUrl.*https/,
  );
  assert.equal(
    load({ publicUrl: "http://127.0.0.1:8788", secret: KEY }).unsubscribe!.publicUrl,
    "http://127.0.0.1:8788",
  );
  assert.match(
    refusal(() => load({ publicUrl: "https://mail.example.com/?x=1", secret: KEY })),
    /unsubscribe\.publicUrl.*query/,
  );
});

Deno.test("loadConfig() names what is missing or wrong in the unsubscribe settings", () => {
  assert.match(
    refusal(() => load({ publicUrl: "https://m.example.com" })),
    /exactly one of secret and secretFile/,
  );
  assert.match(
    refusal(() => load({ publicUrl: "https://m.example.com", secret: "short" })),
    /unsubscribe\.secret/,
  );
  assert.match(
    refusal(() => load({ publicUrl: "https://m.example.com", secret: KEY, tokenLifetime: "5s" })),
    /unsubscribe\.tokenLifetime/,
  );
  assert.match(
    refusal(() => load({ publicUrl: "https://m.example.com", secret: KEY, extra: 1 })),
    /unsubscribe.*extra/,
  );
  assert.match(
    refusal(() => loadConfig({ FERRY_PUBLIC_LISTEN: "127.0.0.1:8788" }, () => "{}", host)),
    /FERRY_PUBLIC_LISTEN.*unsubscribe/,
  );
  assert.match(
    refusal(() =>
      load({ publicUrl: "https://m.example.com", secret: KEY }, { FERRY_PUBLIC_LISTEN: "8788" })
    ),
    /FERRY_PUBLIC_LISTEN.*host:port/,
  );
});

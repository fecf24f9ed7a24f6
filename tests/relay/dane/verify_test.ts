/** verifyDane() over real certificate chains (RFC 7672 §3, RFC 7671 §5). */
import assert from "node:assert/strict";
import { type DaneVerification, verifyDane } from "../../../relay/dane/mod.ts";
import type { TlsaRecord } from "../../../relay/dns/mod.ts";
import { danePki, hasOpenssl } from "./_pki.ts";
import { tlsaFor } from "./_records.ts";
import { requirePeer } from "../../_support/peers.ts";

const ignore = requirePeer("openssl", !hasOpenssl);
const NAMES = ["mx.example.test", "example.test"];

function verify(chain: Uint8Array[], records: TlsaRecord[], names = NAMES): DaneVerification {
  // The certificates were made just now with real dates; the time is read, never waited for.
  return verifyDane(chain, records, { referenceNames: names, now: Date.now() });
}

function reasonsOf(result: DaneVerification): readonly string[] {
  assert.equal(result.ok, false, "expected a mismatch");
  return result.ok ? [] : result.reasons;
}

Deno.test({
  name: "DANE-EE 3 1 1 and 3 0 1 match the leaf; 3 1 2 and 3 x 0 too",
  ignore,
  async fn() {
    const { leaf, intermediate } = await danePki();
    for (const [selector, matching] of [[1, 1], [0, 1], [1, 2], [0, 2], [1, 0], [0, 0]]) {
      const record = tlsaFor(3, selector!, matching!, leaf.der);
      const result = verify([leaf.der, intermediate.der], [record]);
      assert.deepEqual(result, { ok: true, usage: "DANE-EE", record }, `3 ${selector} ${matching}`);
    }
  },
});

Deno.test({
  name: "DANE-EE ignores expiry and names (RFC 7672 §3.1.1)",
  ignore,
  async fn() {
    const { expired, otherName, strangerLeaf } = await danePki();
    const old = verify([expired.der], [tlsaFor(3, 1, 1, expired.der)]);
    assert.equal(old.ok && old.usage, "DANE-EE");
    const renamed = verify([otherName.der], [tlsaFor(3, 1, 1, otherName.der)]);
    assert.equal(renamed.ok && renamed.usage, "DANE-EE");
    // No chain needed either: the leaf alone, whoever issued it.
    assert.equal(verify([strangerLeaf.der], [tlsaFor(3, 0, 1, strangerLeaf.der)]).ok, true);
  },
});

Deno.test({
  name: "DANE-EE reports a leaf that does not match, with what its digest is",
  ignore,
  async fn() {
    const { leaf, otherName } = await danePki();
    const reasons = reasonsOf(verify([leaf.der], [tlsaFor(3, 1, 1, otherName.der)]));
    assert.equal(reasons.length, 1);
    assert.match(
      reasons[0]!,
      /^3 1 1 [0-9a-f]{16}…: does not match the leaf certificate \(its SubjectPublicKeyInfo SHA-256 is [0-9a-f]{16}…\)$/,
    );
    // A DANE-EE record for the intermediate does not vouch for the leaf.
    const { intermediate } = await danePki();
    assert.equal(
      verify([leaf.der, intermediate.der], [tlsaFor(3, 1, 1, intermediate.der)]).ok,
      false,
    );
  },
});

Deno.test({
  name: "DANE-TA 2 0 1 and 2 1 1 match the intermediate or the root the server sent",
  ignore,
  async fn() {
    const { leaf, intermediate, root } = await danePki();
    const chain = [leaf.der, intermediate.der, root.der];
    for (const anchor of [intermediate, root]) {
      for (const selector of [0, 1]) {
        const record = tlsaFor(2, selector, 1, anchor.der);
        assert.deepEqual(verify(chain, [record]), {
          ok: true,
          usage: "DANE-TA",
          record,
          name: "mx.example.test",
        });
      }
    }
    // 2 1 2 (SHA-512) on the intermediate, without the root in the chain.
    const sha512 = tlsaFor(2, 1, 2, intermediate.der);
    assert.equal(verify([leaf.der, intermediate.der], [sha512]).ok, true);
  },
});

Deno.test({
  name: "DANE-TA checks the name against the reference identifiers (RFC 7672 §3.2.3)",
  ignore,
  async fn() {
    const { leaf, otherName, wildcard, cnOnly, intermediate } = await danePki();
    const ta = tlsaFor(2, 1, 1, intermediate.der);
    const reasons = reasonsOf(verify([otherName.der, intermediate.der], [ta]));
    assert.match(
      reasons[0]!,
      /the leaf names none of mx\.example\.test, example\.test \(it presents other\.example\.test\)/,
    );
    // The same leaf passes when its name is a reference identifier (say, the next-hop domain).
    assert.equal(verify([otherName.der, intermediate.der], [ta], ["other.example.test"]).ok, true);
    const star = verify([wildcard.der, intermediate.der], [ta]);
    assert.equal(star.ok && star.name, "mx.example.test");
    const cn = verify([cnOnly.der, intermediate.der], [ta]);
    assert.equal(cn.ok && cn.name, "mx.example.test");
    assert.equal(verify([leaf.der, intermediate.der], [ta], []).ok, false);
  },
});

Deno.test({
  name: "DANE-TA refuses an expired leaf (RFC 7672 §3.1.2)",
  ignore,
  async fn() {
    const { expired, intermediate } = await danePki();
    const reasons = reasonsOf(
      verify([expired.der, intermediate.der], [tlsaFor(2, 0, 1, intermediate.der)]),
    );
    assert.match(reasons[0]!, /CN=mx\.example\.test expired at 2020-01-02T00:00:00\.000Z/);
  },
});

Deno.test({
  name: "DANE-TA needs the anchor in the chain, and the leaf to chain to it with valid signatures",
  ignore,
  async fn() {
    const { leaf, intermediate, root, strangerLeaf, stranger, impostorLeaf } = await danePki();
    // The server left the matching intermediate out.
    const missing = reasonsOf(verify([leaf.der], [tlsaFor(2, 1, 1, intermediate.der)]));
    assert.match(missing[0]!, /no certificate the server sent above its leaf matches it/);
    // A root that matches, but without the intermediate between: no path.
    const gap = reasonsOf(verify([leaf.der, root.der], [tlsaFor(2, 1, 1, root.der)]));
    assert.match(gap[0]!, /the leaf does not chain to the matching CN=ferry-dane-root/);
    // The anchor sent along with a leaf someone else signed.
    const forged = reasonsOf(
      verify([strangerLeaf.der, intermediate.der], [tlsaFor(2, 0, 1, intermediate.der)]),
    );
    assert.match(forged[0]!, /the leaf does not chain to the matching CN=ferry-dane-intermediate/);
    // Issuer names agree, the signature does not: signed by another key under the same name.
    const impostor = reasonsOf(
      verify([impostorLeaf.der, intermediate.der], [tlsaFor(2, 1, 1, intermediate.der)]),
    );
    assert.match(
      impostor[0]!,
      /the leaf does not chain to the matching CN=ferry-dane-intermediate/,
    );
    // A DANE-TA record matching the leaf itself is no anchor for it.
    const self = reasonsOf(verify([leaf.der, intermediate.der], [tlsaFor(2, 0, 1, leaf.der)]));
    assert.match(self[0]!, /no certificate the server sent above its leaf matches it/);
    // And the stranger's own chain holds together.
    assert.equal(
      verify([strangerLeaf.der, stranger.der], [tlsaFor(2, 1, 1, stranger.der)]).ok,
      true,
    );
  },
});

Deno.test({
  name: "DANE-TA 2 0 0 can anchor with the certificate from DNS when the server left it out",
  ignore,
  async fn() {
    const { leaf, intermediate } = await danePki();
    const result = verify([leaf.der], [tlsaFor(2, 0, 0, intermediate.der)]);
    assert.equal(result.ok && result.usage, "DANE-TA");
  },
});

Deno.test({
  name: "verifyDane(): any one record suffices; every failing record says why",
  ignore,
  async fn() {
    const { leaf, intermediate, otherName, stranger } = await danePki();
    const wrongEe = tlsaFor(3, 1, 1, otherName.der);
    const wrongTa = tlsaFor(2, 1, 1, stranger.der);
    const right = tlsaFor(3, 1, 1, leaf.der);
    const ok = verify([leaf.der, intermediate.der], [wrongEe, wrongTa, right]);
    assert.deepEqual(ok, { ok: true, usage: "DANE-EE", record: right });
    const bad = reasonsOf(verify([leaf.der, intermediate.der], [wrongEe, wrongTa]));
    assert.equal(bad.length, 2);
    assert.match(bad[0]!, /^3 1 1 /);
    assert.match(bad[1]!, /^2 1 1 /);
  },
});

Deno.test({
  name: "verifyDane(): no usable record, no certificate or garbage is a mismatch with a reason",
  ignore,
  async fn() {
    const { leaf } = await danePki();
    const pkix = tlsaFor(1, 1, 1, leaf.der);
    const unusable = reasonsOf(verify([leaf.der], [pkix]));
    assert.match(unusable[0]!, /usage 1 \(PKIX-EE\) is not used for SMTP/);
    assert.equal(unusable.at(-1), "no usable TLSA record");
    const ee = tlsaFor(3, 1, 1, leaf.der);
    assert.deepEqual(reasonsOf(verify([], [ee])), ["the server presented no certificate"]);
    const garbage = reasonsOf(verify([Uint8Array.of(1, 2, 3)], [ee]));
    assert.match(garbage[0]!, /certificate 0 of the chain is unreadable/);
    assert.equal(garbage.at(-1), "its leaf is unreadable");
  },
});

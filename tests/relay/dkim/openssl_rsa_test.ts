/**
 * RSA signing through the system's libcrypto: the same bytes as Deno's own RSA (PKCS#1 v1.5 is
 * deterministic) for PKCS#8 and PKCS#1 keys, a named error for a key that is not RSA, and the
 * WebCrypto fallback where libcrypto cannot be loaded.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { generateKeyPairSync, sign } from "node:crypto";
import { loadOpenSslRsa, openSslRsa } from "../../../relay/dkim/openssl_rsa.ts";
import { rsaSigner } from "../../../relay/dkim/sign_headers.ts";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pkcs8 = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const pkcs1 = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const data = new TextEncoder().encode("dkim-signature:v=1; a=rsa-sha256; d=shop.example; b=");
const expected = sign("sha256", data, privateKey);
// On a developer's machine without OpenSSL 3 these are reported ignored; in CI (Debian) never.
const ignore = !Deno.env.get("CI") && openSslRsa() === undefined;

Deno.test(
  { name: "libcrypto loads here (every Debian with OpenSSL 3 has libcrypto.so.3)", ignore },
  () => {
    assert.ok(openSslRsa(), "libcrypto.so.3 could not be loaded");
  },
);

Deno.test({
  name: "libcrypto signs PKCS#8 and PKCS#1 keys with the bytes node:crypto makes",
  ignore,
}, async () => {
  const openSsl = openSslRsa()!;
  for (const pem of [pkcs8, pkcs1]) {
    const signature = await openSsl.key(pem).sign(data);
    assert.ok(Buffer.from(signature).equals(expected));
  }
  // Several at once, each on a thread of the blocking pool, each still right.
  const signer = openSsl.key(pkcs8);
  const many = await Promise.all(Array.from({ length: 8 }, () => signer.sign(data)));
  for (const s of many) assert.ok(Buffer.from(s).equals(expected));
});

Deno.test(
  { name: "a key that is not RSA, or not a key, is refused with a named error", ignore },
  () => {
    const ed = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" });
    assert.throws(() => openSslRsa()!.key(ed.toString()), /not an RSA key/);
    assert.throws(() => openSslRsa()!.key("not a pem"), /not a private key/);
  },
);

Deno.test("without libcrypto, signing falls back to WebCrypto with the same bytes", async () => {
  assert.equal(loadOpenSslRsa(["libferry-no-such-library.so"]), undefined);
  const viaWebCrypto = await rsaSigner(pkcs8, undefined);
  assert.ok(Buffer.from(await viaWebCrypto(data)).equals(expected));
  // And with libcrypto where it loads (the default path), from a PKCS#1 key.
  const viaDefault = await rsaSigner(pkcs1, openSslRsa());
  assert.ok(Buffer.from(await viaDefault(data)).equals(expected));
});

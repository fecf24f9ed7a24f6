/**
 * A throwaway PKI for TLS tests, made with `openssl` at test time: a CA and a server certificate
 * it signed (rustls rejects a self-signed CA certificate used as the server's own). EC P-256
 * keys keep generation fast. Made once per test process, removed when it exits.
 *
 * @module
 */

/** The generated files (paths) and their PEM text. */
export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** Whether openssl is available (CI installs it; tests needing it skip themselves otherwise). */
export const hasOpenssl = (() => {
  try {
    return Deno.statSync("/usr/bin/openssl").isFile;
  } catch {
    return false;
  }
})();

let made: Promise<TestPki> | undefined;

/** The test PKI: CA `ferry-test-ca`, server certificate for `mx.test`, `localhost`, 127.0.0.1. */
export function testPki(): Promise<TestPki> {
  made ??= makePki();
  return made;
}

async function makePki(): Promise<TestPki> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-pki-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const f = (name: string) => `${dir}/${name}`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=ferry-test-ca",
  ]);
  await openssl([
    "req",
    ...ec,
    "-keyout",
    f("key.pem"),
    "-out",
    f("leaf.csr"),
    "-subj",
    "/CN=mx.test",
  ]);
  await Deno.writeTextFile(
    f("ext.cnf"),
    "subjectAltName=DNS:mx.test,DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" +
      "extendedKeyUsage=serverAuth\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    f("leaf.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-out",
    f("cert.pem"),
    "-days",
    "2",
    "-extfile",
    f("ext.cnf"),
  ]);
  // Postfix runs as its own user and must read the key and certificate.
  await Deno.chmod(dir, 0o755);
  for (const name of ["ca.pem", "cert.pem", "key.pem"]) await Deno.chmod(f(name), 0o644);
  return {
    dir,
    caFile: f("ca.pem"),
    certFile: f("cert.pem"),
    keyFile: f("key.pem"),
    caPem: await Deno.readTextFile(f("ca.pem")),
    certPem: await Deno.readTextFile(f("cert.pem")),
    keyPem: await Deno.readTextFile(f("key.pem")),
  };
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `Cannot make the test PKI as openssl ${args[0]} failed: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
}

/**
 * Certificates for the MTA-STS tests, made with `openssl` once per test process: a CA, and
 * leaves it signed for given names and validity periods (`openssl ca`, because OpenSSL 3.0's
 * `x509 -req` cannot back-date a certificate, and an expired one is needed).
 *
 * @module
 */
import { isIP } from "node:net";

export interface Leaf {
  readonly certPem: string;
  readonly keyPem: string;
  /** The same certificate and key as files (for Postfix), readable by root only. */
  readonly certFile: string;
  readonly keyFile: string;
}

export interface PolicyPki {
  readonly caPem: string;
  /** A leaf for `mta-sts.example.test`, valid now. */
  readonly valid: Leaf;
  /** A leaf for `mta-sts.other.test`, valid now. */
  readonly otherName: Leaf;
  /** A leaf for `mta-sts.example.test` that expired in 2020. */
  readonly expired: Leaf;
}

/** A test CA that issues leaves. */
export interface TestCa {
  readonly caPem: string;
  readonly caFile: string;
  /**
   * A leaf for `names` (the first is also its CN), valid for two days from now; an IP address
   * among them is an IP SAN.
   */
  leaf(names: readonly string[]): Promise<Leaf>;
  /** A leaf for `names` that expired on 2 January 2020. */
  expiredLeaf(names: readonly string[]): Promise<Leaf>;
}

/** Whether openssl is available (CI installs it; tests needing it skip themselves otherwise). */
export const hasOpenssl = (() => {
  try {
    return Deno.statSync("/usr/bin/openssl").isFile;
  } catch {
    return false;
  }
})();

let made: Promise<PolicyPki> | undefined;

export function policyPki(): Promise<PolicyPki> {
  made ??= makePki();
  return made;
}

async function makePki(): Promise<PolicyPki> {
  const ca = await testCa();
  return {
    caPem: ca.caPem,
    valid: await ca.leaf(["mta-sts.example.test"]),
    otherName: await ca.leaf(["mta-sts.other.test"]),
    expired: await ca.expiredLeaf(["mta-sts.example.test"]),
  };
}

/** A new CA in its own temporary directory, removed when the test process exits. */
export async function testCa(): Promise<TestCa> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-mta-sts-pki-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const f = (name: string) => `${dir}/${name}`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(["req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "2"]
    .concat(["-subj", "/CN=ferry-mta-sts-test-ca"]));
  await Deno.writeTextFile(f("index.txt"), "");
  await Deno.writeTextFile(f("serial"), "1000\n");
  await Deno.writeTextFile(
    f("ca.cnf"),
    [
      "[ca]",
      "default_ca = test",
      "[test]",
      `database = ${f("index.txt")}`,
      `new_certs_dir = ${dir}`,
      `serial = ${f("serial")}`,
      "default_md = sha256",
      "policy = anything",
      "unique_subject = no",
      "[anything]",
      "commonName = supplied",
    ].join("\n") + "\n",
  );
  let count = 0;
  const leaf = async (names: readonly string[], dates: string[]): Promise<Leaf> => {
    const base = f(`leaf-${++count}`);
    await Deno.writeTextFile(
      `${base}.ext`,
      // An address gets an IP SAN: what a client checks for an https://<address>/ URL (RFC
      // 6125 §1.7.2, RFC 5280 §4.2.1.6).
      `[leaf]\nsubjectAltName=${names.map((n) => isIP(n) ? `IP:${n}` : `DNS:${n}`).join(",")}\n` +
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    await openssl([
      "req",
      ...ec,
      "-keyout",
      `${base}.key`,
      "-out",
      `${base}.csr`,
      "-subj",
      `/CN=${names[0]}`,
    ]);
    await openssl([
      "ca",
      "-batch",
      "-notext",
      "-config",
      f("ca.cnf"),
      "-cert",
      f("ca.pem"),
      "-keyfile",
      f("ca.key"),
      "-in",
      `${base}.csr`,
      "-out",
      `${base}.pem`,
      "-extfile",
      `${base}.ext`,
      "-extensions",
      "leaf",
      ...dates,
    ]);
    return {
      certPem: await Deno.readTextFile(`${base}.pem`),
      keyPem: await Deno.readTextFile(`${base}.key`),
      certFile: `${base}.pem`,
      keyFile: `${base}.key`,
    };
  };
  return {
    caPem: await Deno.readTextFile(f("ca.pem")),
    caFile: f("ca.pem"),
    leaf: (names) => leaf(names, ["-days", "2"]),
    expiredLeaf: (names) =>
      leaf(names, ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"]),
  };
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `Cannot make the MTA-STS test PKI as openssl ${args[0]} failed: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
}

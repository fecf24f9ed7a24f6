/**
 * Certificates for the DANE tests, made with `openssl` once per test process: an RSA root, an EC
 * intermediate it signed, and EC leaves the intermediate signed (for `mx.example.test`, expired,
 * for another name, wildcard, common name only), plus a stranger CA and an impostor CA (the
 * intermediate's name, another key) with leaves of their own, for chains that do not hold
 * together. `openssl ca` signs the leaves because OpenSSL 3.0's
 * `x509 -req` cannot back-date one, and an expired leaf is needed.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";

export interface Cert {
  readonly pem: string;
  readonly der: Uint8Array;
  readonly keyPem: string;
}

export interface DanePki {
  /** RSA, self-signed `ferry-dane-root`. */
  readonly root: Cert;
  /** EC, `ferry-dane-intermediate`, signed by the root. */
  readonly intermediate: Cert;
  /** `mx.example.test`, valid now. */
  readonly leaf: Cert;
  /** `mx.example.test`, expired in 2020. */
  readonly expired: Cert;
  /** `other.example.test`, valid now. */
  readonly otherName: Cert;
  /** `*.example.test`, valid now. */
  readonly wildcard: Cert;
  /** CN `mx.example.test` and no subjectAltName. */
  readonly cnOnly: Cert;
  /** A CA of its own, `ferry-dane-stranger`. */
  readonly stranger: Cert;
  /** `mx.example.test`, signed by the stranger. */
  readonly strangerLeaf: Cert;
  /**
   * `mx.example.test`, signed by an impostor CA that took the intermediate's name but has its
   * own key: only the signature tells it apart.
   */
  readonly impostorLeaf: Cert;
}

/** Whether openssl is available (CI installs it; tests needing it skip themselves otherwise). */
export const hasOpenssl = (() => {
  try {
    return Deno.statSync("/usr/bin/openssl").isFile;
  } catch {
    return false;
  }
})();

let made: Promise<DanePki> | undefined;

export function danePki(): Promise<DanePki> {
  made ??= makePki();
  return made;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
const NOW = ["-days", "2"];

async function makePki(): Promise<DanePki> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-dane-pki-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const f = (name: string) => `${dir}/${name}`;
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
      "[ca_ext]",
      "basicConstraints = critical,CA:TRUE",
      "keyUsage = critical,keyCertSign,cRLSign",
      "subjectKeyIdentifier = hash",
      "authorityKeyIdentifier = keyid",
    ].join("\n") + "\n",
  );

  /** Signs `<name>.csr` with `<issuer>.pem`, adding extension section `ext` of `extfile`. */
  const sign = (name: string, issuer: string, extfile: string, ext: string, dates: string[]) =>
    openssl(
      ["ca", "-batch", "-notext", "-config", f("ca.cnf"), "-cert", f(`${issuer}.pem`)]
        .concat(["-keyfile", f(`${issuer}.key`), "-in", f(`${name}.csr`)])
        .concat(["-out", f(`${name}.pem`), "-extfile", extfile, "-extensions", ext, ...dates]),
    );
  const request = (name: string, cn: string) =>
    openssl(["req", ...EC, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`)]
      .concat(["-subj", `/CN=${cn}`]));
  const selfSignedCa = (name: string, cn: string, key: string[]) =>
    openssl(
      ["req", "-x509", ...key, "-keyout", f(`${name}.key`), "-out", f(`${name}.pem`)]
        .concat(["-days", "2", "-subj", `/CN=${cn}`])
        .concat(["-addext", "basicConstraints=critical,CA:TRUE"])
        .concat(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    );
  const leaf = async (
    name: string,
    issuer: string,
    cn: string,
    san: string | undefined,
    dates: string[],
  ) => {
    await request(name, cn);
    const ext = f(`${name}.ext`);
    await Deno.writeTextFile(
      ext,
      `[leaf]\n${san ? `subjectAltName=${san}\n` : ""}basicConstraints=CA:FALSE\n` +
        "extendedKeyUsage=serverAuth\n",
    );
    await sign(name, issuer, ext, "leaf", dates);
  };

  await selfSignedCa("root", "ferry-dane-root", ["-newkey", "rsa:2048", "-nodes"]);
  await request("intermediate", "ferry-dane-intermediate");
  await sign("intermediate", "root", f("ca.cnf"), "ca_ext", NOW);
  await leaf("leaf", "intermediate", "mx.example.test", "DNS:mx.example.test", NOW);
  await leaf("expired", "intermediate", "mx.example.test", "DNS:mx.example.test", [
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200102000000Z",
  ]);
  await leaf("other", "intermediate", "other.example.test", "DNS:other.example.test", NOW);
  await leaf("wildcard", "intermediate", "wildcard", "DNS:*.example.test", NOW);
  await leaf("cn-only", "intermediate", "mx.example.test", undefined, NOW);
  await selfSignedCa("stranger", "ferry-dane-stranger", EC);
  await leaf("stranger-leaf", "stranger", "mx.example.test", "DNS:mx.example.test", NOW);
  await selfSignedCa("impostor", "ferry-dane-intermediate", EC);
  await leaf("impostor-leaf", "impostor", "mx.example.test", "DNS:mx.example.test", NOW);

  const read = async (name: string): Promise<Cert> => {
    const pem = await Deno.readTextFile(f(`${name}.pem`));
    return {
      pem,
      der: new Uint8Array(new X509Certificate(pem).raw),
      keyPem: await Deno.readTextFile(f(`${name}.key`)),
    };
  };
  return {
    root: await read("root"),
    intermediate: await read("intermediate"),
    leaf: await read("leaf"),
    expired: await read("expired"),
    otherName: await read("other"),
    wildcard: await read("wildcard"),
    cnOnly: await read("cn-only"),
    stranger: await read("stranger"),
    strangerLeaf: await read("stranger-leaf"),
    impostorLeaf: await read("impostor-leaf"),
  };
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `Cannot make the DANE test PKI as openssl ${args[0]} failed: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
}

/**
 * RSA-SHA256 signatures (PKCS#1 v1.5) made by the system's OpenSSL (libcrypto 3) through Deno's
 * FFI. Deno's own RSA (WebCrypto and node:crypto alike) takes 1.4 ms of CPU per 2048-bit
 * signature on the benchmark machine; libcrypto takes about 0.26 ms, and with DKIM on, that
 * signature is most of the CPU a message costs. The signing call runs on a thread of Deno's
 * blocking pool (`nonblocking`), not on the event loop's.
 *
 * {@link openSslRsa} returns undefined when libcrypto cannot be loaded (no library on the
 * system, or the process lacks `--allow-ffi`); the caller then signs with WebCrypto. PKCS#1 v1.5
 * signatures are deterministic, so both give the same bytes for the same key and data.
 *
 * @module
 */

const SYMBOLS = {
  BIO_new_mem_buf: { parameters: ["buffer", "i32"], result: "pointer" },
  BIO_free: { parameters: ["pointer"], result: "i32" },
  PEM_read_bio_PrivateKey: {
    parameters: ["pointer", "pointer", "pointer", "pointer"],
    result: "pointer",
  },
  EVP_PKEY_get_base_id: { parameters: ["pointer"], result: "i32" },
  EVP_PKEY_get_size: { parameters: ["pointer"], result: "i32" },
  EVP_PKEY_free: { parameters: ["pointer"], result: "void" },
  EVP_sha256: { parameters: [], result: "pointer" },
  EVP_MD_CTX_new: { parameters: [], result: "pointer" },
  EVP_MD_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_DigestSignInit: {
    parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  EVP_DigestSign: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "usize"],
    result: "i32",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

type LibCrypto = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** `EVP_PKEY_RSA` in OpenSSL's headers (the NID of rsaEncryption). */
const EVP_PKEY_RSA = 6;

/** The file names libcrypto 3 goes by (Linux, then macOS). */
const LIBRARY_NAMES = ["libcrypto.so.3", "libcrypto.3.dylib"];

/** Signs with one RSA private key. */
export interface RsaSigner {
  /** The RSASSA-PKCS1-v1_5 SHA-256 signature of `data`. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** Makes {@link RsaSigner}s from PEM keys. */
export interface RsaSigners {
  /** Parses a PEM private key (PKCS#8 or PKCS#1); throws if it is not an RSA key. */
  key(pem: string): RsaSigner;
}

let loaded: RsaSigners | null | undefined;

/** libcrypto's RSA signing, or undefined where libcrypto cannot be loaded; loaded once. */
export function openSslRsa(): RsaSigners | undefined {
  if (loaded === undefined) loaded = loadOpenSslRsa(LIBRARY_NAMES) ?? null;
  return loaded ?? undefined;
}

/** libcrypto's RSA signing from the first of `names` that loads, or undefined. */
export function loadOpenSslRsa(names: readonly string[]): RsaSigners | undefined {
  for (const name of names) {
    try {
      return rsaSigners(Deno.dlopen(name, SYMBOLS).symbols);
    } catch {
      // Not this name, or no FFI permission: try the next, then give up.
    }
  }
  return undefined;
}

function rsaSigners(lib: LibCrypto): RsaSigners {
  const sha256 = lib.EVP_sha256();
  return {
    key(pem) {
      const bytes = new TextEncoder().encode(pem);
      const bio = lib.BIO_new_mem_buf(bytes, bytes.length);
      if (bio === null) throw new Error("libcrypto: cannot allocate a memory BIO");
      const pkey = lib.PEM_read_bio_PrivateKey(bio, null, null, null);
      lib.BIO_free(bio);
      if (pkey === null) throw new Error("libcrypto: the PEM is not a private key it can read");
      if (lib.EVP_PKEY_get_base_id(pkey) !== EVP_PKEY_RSA) {
        lib.EVP_PKEY_free(pkey);
        throw new Error("libcrypto: the private key is not an RSA key");
      }
      // The key lives as long as the process: keys are few and come from the configuration.
      const size = lib.EVP_PKEY_get_size(pkey);
      return {
        async sign(data) {
          const ctx = lib.EVP_MD_CTX_new();
          if (ctx === null) throw new Error("libcrypto: cannot allocate a digest context");
          try {
            if (lib.EVP_DigestSignInit(ctx, null, sha256, null, pkey) !== 1) {
              throw new Error("libcrypto: EVP_DigestSignInit failed");
            }
            const signature = new Uint8Array(size);
            const length = new BigUint64Array([BigInt(size)]);
            // The buffers are referenced here until the call on the other thread returns.
            const ok = await lib.EVP_DigestSign(ctx, signature, length, data, BigInt(data.length));
            if (ok !== 1) throw new Error("libcrypto: EVP_DigestSign failed");
            return signature.subarray(0, Number(length[0]));
          } finally {
            lib.EVP_MD_CTX_free(ctx);
          }
        },
      };
    },
  };
}

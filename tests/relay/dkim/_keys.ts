/**
 * A fresh DKIM key for shop.example (selector `rsa1` or `ed1`), as the end-to-end DKIM tests sign
 * with.
 */
import { generateKeyPairSync } from "node:crypto";
import type { DkimKeyConfig } from "../../../relay/dkim/keys.ts";

export function shopKey(algorithm: DkimKeyConfig["algorithm"]): DkimKeyConfig {
  const { privateKey } = algorithm === "rsa-sha256"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ed25519");
  return {
    domain: "shop.example",
    selector: algorithm === "rsa-sha256" ? "rsa1" : "ed1",
    algorithm,
    privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

import { MemoryMtaStsStore } from "../../../relay/mta_sts/mod.ts";
import { storeContract } from "./_store_contract.ts";

Deno.test("MemoryMtaStsStore follows the store contract", async (t) => {
  await storeContract(t, () => Promise.resolve(new MemoryMtaStsStore()));
});

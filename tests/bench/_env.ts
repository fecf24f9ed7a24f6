/** Benchmarks' database: DATABASE_URL, or a throwaway cluster like the test suite's. */
import { findPostgresBin, startCluster } from "../_support/postgres_cluster.ts";

export async function benchServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const url = Deno.env.get("DATABASE_URL");
  if (url) return { url, stop: async () => {} };
  const bin = findPostgresBin();
  if (!bin) {
    throw new Error("Cannot run the benchmark as no PostgreSQL server or binaries were found");
  }
  return await startCluster(bin);
}

/** One machine-readable figure per line. */
export function report(figure: Record<string, unknown>): void {
  console.log(JSON.stringify(figure));
}

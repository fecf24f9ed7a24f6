/**
 * The embedded database's memory settings, passed to PGlite as `-c` start options (they take
 * precedence over the data directory's postgresql.conf).
 *
 * PGlite is PostgreSQL compiled to WebAssembly: everything PostgreSQL allocates, its shared memory
 * included, lives in one WebAssembly linear memory, and a linear memory can grow but never shrink.
 * So every megabyte configured here, once touched, stays in the relay's RSS for the life of the
 * process. PostgreSQL's server defaults are sized for a dedicated database machine (128 MB of
 * shared buffers alone); the values below are sized for Ferry's working set instead. They change
 * memory only, never durability: WAL is written at every commit as before.
 *
 * @module
 */
import { PGlite } from "@electric-sql/pglite";

/** Name → value, as `SHOW <name>` prints it. Documented in docs/configuration.md. */
export const PGLITE_SETTINGS = {
  /**
   * The buffer pool (default 128MB). Ferry's hot set is small: the outbox rows not yet ingested,
   * the due deliveries and their indexes. Every page PGlite reads also goes through the operating
   * system's page cache (its files are ordinary files), which is not part of the process's RSS and
   * is given back under memory pressure; a large pool would only hold a second copy.
   */
  shared_buffers: "16MB",
  /**
   * WAL written but not yet flushed (default: 1/32 of shared_buffers). Every commit flushes it, so
   * it only needs to hold one transaction's WAL between writes; a larger one saves a few write
   * calls during a big ingestion batch.
   */
  wal_buffers: "1MB",
  /**
   * Per sort or hash step (PostgreSQL's default, kept). Ferry's largest sorts are claim and
   * ingestion batches of a few thousand rows; a larger value would let one query grow the linear
   * memory for good.
   */
  work_mem: "4MB",
  /** VACUUM and CREATE INDEX (in migrations), one at a time (default 64MB). */
  maintenance_work_mem: "16MB",
  /** Per-session buffers for temporary tables (default 8MB): Ferry creates none. */
  temp_buffers: "1MB",
} as const;

/** PGlite's own start options (single-user mode and friends) followed by the settings above. */
export function pgliteStartParams(): string[] {
  return [
    ...PGlite.defaultStartParams,
    ...Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => ["-c", `${name}=${value}`]),
  ];
}

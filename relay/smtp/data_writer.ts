/**
 * Writes encoded DATA content with few system calls and few copies: short chunks (lines that
 * needed a CRLF or a dot) are gathered into one reusable buffer; long runs of the caller's
 * message are written straight from it, in slices so each write gets its own data-block timeout
 * (RFC 5321 §4.5.3.2.5 times each "TCP SEND", not the whole message).
 *
 * @module
 */

/** The sink a writer writes to: the session's channel in practice. */
export type WriteBlock = (block: Uint8Array) => Promise<void>;

const GATHER_SIZE = 64 * 1024;
const DIRECT_THRESHOLD = 16 * 1024;
const SLICE_SIZE = 1024 * 1024;

/** Writes every chunk of `chunks` to `write`, in order. Returns the octets written. */
export async function writeChunks(
  chunks: Iterable<Uint8Array>,
  write: WriteBlock,
): Promise<number> {
  const gather = new Uint8Array(GATHER_SIZE);
  let used = 0;
  let total = 0;
  const flush = async () => {
    if (used === 0) return;
    // The sink resolves only once it is done with the bytes, so the buffer can be reused.
    await write(gather.subarray(0, used));
    total += used;
    used = 0;
  };
  for (const chunk of chunks) {
    if (chunk.length >= DIRECT_THRESHOLD) {
      await flush();
      for (let off = 0; off < chunk.length; off += SLICE_SIZE) {
        await write(chunk.subarray(off, off + SLICE_SIZE));
      }
      total += chunk.length;
      continue;
    }
    if (used + chunk.length > GATHER_SIZE) await flush();
    gather.set(chunk, used);
    used += chunk.length;
  }
  await flush();
  return total;
}

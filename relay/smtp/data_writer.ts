/**
 * Writes encoded DATA content with few system calls and few copies: chunks that fit are gathered
 * into one buffer (a message of up to 64 KiB goes out in a single write, terminator included);
 * long runs of the caller's message that do not fit are written straight from it, in slices so
 * each write gets its own data-block timeout (RFC 5321 §4.5.3.2.5 times each "TCP SEND", not the
 * whole message).
 *
 * Gather buffers are kept for reuse (a few, shared by all sessions): allocating and zeroing one
 * per message costs more than the rest of the writer. With more writers at once than spare
 * buffers (thousands of connections), a small message with a size hint gets a buffer of its own
 * size instead: 64 KiB per 2 KB message was a tenth of the relay's CPU in garbage collection.
 *
 * @module
 */

/** The sink a writer writes to: the session's channel in practice. */
export type WriteBlock = (block: Uint8Array) => Promise<void>;

const GATHER_SIZE = 64 * 1024;
const DIRECT_THRESHOLD = 16 * 1024;
const SLICE_SIZE = 1024 * 1024;
/** At most this many idle gather buffers are kept (1 MiB): enough for as many parallel writers. */
const MAX_SPARE = 16;
const spare: Uint8Array[] = [];

/** Below this size hint, a message is gathered in a buffer of its own size. */
const SMALL_HINT = GATHER_SIZE / 4;

/**
 * Writes every chunk of `chunks` to `write`, in order. Returns the octets written. `sizeHint`:
 * about how many octets there are (the message's length; dot-stuffing may add a few).
 */
export async function writeChunks(
  chunks: Iterable<Uint8Array>,
  write: WriteBlock,
  sizeHint?: number,
): Promise<number> {
  const small = sizeHint !== undefined && sizeHint < SMALL_HINT;
  // Room for some dot-stuffing and the terminator; if it is not enough, it is flushed and reused.
  const capacity = small ? sizeHint + (sizeHint >> 5) + 16 : GATHER_SIZE;
  let gather: Uint8Array | undefined;
  let used = 0;
  let total = 0;
  const flush = async () => {
    if (used === 0) return;
    // The sink resolves only once it is done with the bytes, so the buffer can be reused.
    await write(gather!.subarray(0, used));
    total += used;
    used = 0;
  };
  for (const chunk of chunks) {
    if (used + chunk.length > capacity) {
      await flush();
      if (chunk.length >= DIRECT_THRESHOLD || chunk.length > capacity) {
        for (let off = 0; off < chunk.length; off += SLICE_SIZE) {
          await write(chunk.subarray(off, off + SLICE_SIZE));
        }
        total += chunk.length;
        continue;
      }
    }
    gather ??= small ? new Uint8Array(capacity) : spare.pop() ?? new Uint8Array(GATHER_SIZE);
    gather.set(chunk, used);
    used += chunk.length;
  }
  await flush();
  // Only after success: a write that failed (or timed out) may still hold the buffer.
  if (gather && !small && spare.length < MAX_SPARE) spare.push(gather);
  return total;
}

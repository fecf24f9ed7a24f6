/**
 * The one line-ending rule of everything Ferry sends: a line ends in CRLF; a bare CR and a bare
 * LF each end a line too and become CRLF (RFC 5321 §2.3.8 forbids sending them; RFC 5322 §2.3
 * forbids them in a message). Applied before DKIM signing, so the bytes signed are the bytes the
 * DATA encoder sends (it then only dot-stuffs): a signature can no longer break on the way out.
 * The DATA encoder reads line ends by exactly this rule, so it changes nothing it is given here.
 *
 * @module
 */

const CR = 0x0d;
const LF = 0x0a;

/** `message` with every bare CR and bare LF replaced by CRLF; the same array when it has none. */
export function canonicalLineEnds(message: Uint8Array): Uint8Array {
  let extra = 0;
  for (let i = 0; i < message.length; i++) {
    const b = message[i];
    if (b === CR) {
      if (message[i + 1] === LF) i++;
      else extra++;
    } else if (b === LF) extra++;
  }
  if (extra === 0) return message;
  const out = new Uint8Array(message.length + extra);
  let o = 0;
  for (let i = 0; i < message.length; i++) {
    const b = message[i]!;
    if (b === CR) {
      out[o++] = CR;
      out[o++] = LF;
      if (message[i + 1] === LF) i++;
    } else if (b === LF) {
      out[o++] = CR;
      out[o++] = LF;
    } else out[o++] = b;
  }
  return out;
}

/** The longest line of `message` in octets, line ends excluded (any of CRLF, CR, LF). */
export function longestLine(message: Uint8Array): number {
  let longest = 0;
  let start = 0;
  for (let i = 0; i <= message.length; i++) {
    const b = message[i];
    if (i === message.length || b === CR || b === LF) {
      longest = Math.max(longest, i - start);
      if (b === CR && message[i + 1] === LF) i++;
      start = i + 1;
    }
  }
  return longest;
}

/**
 * Header text that cannot go out as it is written: a run without white space too long to fold
 * (a line may not exceed 998 octets, RFC 5322 §2.1.1, and should not exceed 78), or text that a
 * reader would decode as an RFC 2047 encoded word (`=?utf-8?q?hello?=` would arrive as "hello").
 * Such text is written as encoded words, each at most 75 characters (RFC 2047 §2), separated by
 * white space that decoders drop between encoded words (§6.2), so it folds anywhere and decodes
 * to exactly the original.
 *
 * @module
 */

/** Longest run without white space left as it is; longer runs are encoded so they can fold. */
const MAX_RUN = 60;
/** UTF-8 octets per encoded word: base64 of 45 octets is 60 characters, 72 with its frame. */
const CHUNK = 45;

/** True when `text` must be written as encoded words. */
export function needsEncodedWords(text: string): boolean {
  if (/=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=/.test(text)) return true;
  return text.split(/[ \t]+/).some((run) => run.length > MAX_RUN);
}

/** `text` as space-separated `=?UTF-8?B?...?=` words, split on character boundaries. */
export function encodedWords(text: string): string {
  const words: string[] = [];
  const encoder = new TextEncoder();
  let chunk = "";
  let size = 0;
  for (const ch of text) {
    const n = encoder.encode(ch).length;
    if (size + n > CHUNK && chunk !== "") {
      words.push(word(chunk));
      chunk = "";
      size = 0;
    }
    chunk += ch;
    size += n;
  }
  if (chunk !== "" || words.length === 0) words.push(word(chunk));
  return words.join(" ");
}

function word(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `=?UTF-8?B?${btoa(binary)}?=`;
}

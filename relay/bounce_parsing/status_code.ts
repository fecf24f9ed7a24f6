/**
 * Finding status codes in report fields and free text: RFC 3463 enhanced codes (`5.1.1`) and,
 * failing those, RFC 5321 reply codes (`550`).
 *
 * @module
 */

// RFC 3463 §2 defines subjects 0 to 7 only; that and the look-arounds keep dotted quads and
// version numbers (`10.5.4.3`, `Exim 4.96.1`) from passing for codes.
const ENHANCED = /(?<![\w.])([245])\.([0-7])\.(\d{1,3})(?!\.?\d)/g;
const BASIC = /(?<![\w.])([45])[0-5]\d(?=[ -]|$)/m;

/** Every enhanced status code in `text`, in order. */
export function enhancedCodes(text: string): string[] {
  return [...text.matchAll(ENHANCED)].map((m) => `${m[1]}.${Number(m[2])}.${Number(m[3])}`);
}

/** The enhanced status code a DSN `Status:` field starts with (RFC 3464 §2.3.4). */
export function parseStatusField(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*([245])\.([0-7])\.(\d{1,3})\b/.exec(value);
  return m ? `${m[1]}.${Number(m[2])}.${Number(m[3])}` : undefined;
}

/** The class digit (`4` or `5`) of the first SMTP reply code in `text`. */
export function basicClass(text: string): "4" | "5" | undefined {
  return BASIC.exec(text)?.[1] as "4" | "5" | undefined;
}

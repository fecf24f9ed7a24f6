/**
 * Opaque pagination cursors: the keyset position, as base64url JSON. Clients pass back what
 * they got; anything else is a 400, not a crash.
 *
 * @module
 */
import { z } from "zod";

export function encodeCursor(value: Readonly<Record<string, unknown>>): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** A query parameter holding a cursor whose content `shape` describes. */
export function cursorParam<T extends z.ZodType>(shape: T) {
  return z.string().max(2000).transform((s, ctx): z.output<T> => {
    try {
      const b64 = s.replaceAll("-", "+").replaceAll("_", "/");
      const text = new TextDecoder().decode(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)));
      const parsed = shape.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
    } catch {
      // fall through: not base64, not JSON
    }
    ctx.addIssue({ code: "custom", message: "not a cursor returned by this API" });
    return z.NEVER;
  }).describe("Opaque: the `next_cursor` of the previous page.");
}

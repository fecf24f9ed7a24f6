/**
 * Header-style fields (RFC 5322 §2.2), as used by message headers, DSN bodies (RFC 3464 §2.1)
 * and ARF reports (RFC 5965 §3.1): `Name: value`, continuation lines start with white space,
 * groups separated by blank lines.
 *
 * @module
 */

/** One group of fields; names lower-cased, values unfolded and trimmed, in order of appearance. */
export class Fields {
  readonly #entries: readonly (readonly [string, string])[];

  constructor(entries: readonly (readonly [string, string])[]) {
    this.#entries = entries;
  }

  /** The first value of `name` (case-insensitive). */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    return this.#entries.find(([k]) => k === key)?.[1];
  }

  /** Every value of `name`, in order. */
  all(name: string): string[] {
    const key = name.toLowerCase();
    return this.#entries.filter(([k]) => k === key).map(([, v]) => v);
  }

  get size(): number {
    return this.#entries.length;
  }
}

/** Parses one block of fields; lines that are not fields are skipped. */
export function parseFields(block: string): Fields {
  const entries: [string, string][] = [];
  for (const line of unfold(block)) {
    const m = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$/.exec(line);
    if (m) entries.push([m[1]!.toLowerCase(), m[2]!.trim()]);
  }
  return new Fields(entries);
}

/** Splits a body into blank-line separated groups of fields (RFC 3464 §2.1), skipping empties. */
export function parseFieldGroups(text: string): Fields[] {
  return text.replace(/\r\n?/g, "\n").split(/\n[ \t]*\n/).map(parseFields).filter((f) =>
    f.size > 0
  );
}

/** The header section of a message (up to the first blank line), as fields. */
export function parseHeaderBlock(message: string): Fields {
  const text = message.replace(/\r\n?/g, "\n").replace(/^\n+/, "");
  const end = text.search(/\n[ \t]*\n/);
  return parseFields(end < 0 ? text : text.slice(0, end));
}

function unfold(block: string): string[] {
  const lines: string[] = [];
  for (const line of block.replace(/\r\n?/g, "\n").split("\n")) {
    if (/^[ \t]/.test(line) && lines.length > 0) {
      lines[lines.length - 1] += ` ${line.trim()}`;
    } else if (line.trim() !== "") {
      lines.push(line);
    }
  }
  return lines;
}

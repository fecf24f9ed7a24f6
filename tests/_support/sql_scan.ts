/**
 * A small lexer for the source rules about SQL (tests/db/sql_home_test.ts): it finds Kysely `sql`
 * tags (tagged templates and `sql.raw(...)`), tells the raw statements (a tag executed as it
 * stands, `sql\`...\`.execute(db)`) from fragments embedded in other queries, and gives the code
 * with comments and string contents blanked, so a word in a comment or a message never counts.
 *
 * It knows just enough TypeScript for that: comments, strings, template literals with nested
 * `${...}`, regular expression literals (told from division by the token before them) and
 * generic arguments after `sql`. A source it cannot follow to the end is an error, not a pass.
 *
 * @module
 */

export interface SqlTag {
  /** 1-based line of the `sql` identifier. */
  readonly line: number;
  /** `template`: sql`...` or sql<T>`...`; `raw`: sql.raw(...); `helper`: sql.lit, sql.join, ... */
  readonly kind: "template" | "raw" | "helper";
  /** Executed as it stands (`.execute(` follows it): a raw statement, not a fragment. */
  readonly statement: boolean;
}

export interface Scan {
  readonly tags: readonly SqlTag[];
  /** The source with comments and the text of strings and templates replaced by spaces. */
  readonly code: string;
}

const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "case",
  "do",
  "else",
  "new",
  "delete",
  "void",
  "throw",
  "yield",
  "await",
]);

export function scanSource(source: string): Scan {
  // In source order: a tag is recorded before the templates nested in it are read.
  const tags: { -readonly [K in keyof SqlTag]: SqlTag[K] }[] = [];
  const masked = source.split("");
  let i = 0;
  // The last significant token of code: decides whether `/` starts a regular expression.
  let lastChar = "";
  let lastWord = "";

  const lineAt = (pos: number) => source.slice(0, pos).split("\n").length;
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (masked[k] !== "\n") masked[k] = " ";
  };
  const fail = (what: string, pos: number): never => {
    throw new Error(`sql_scan: ${what} at line ${lineAt(pos)}`);
  };
  const skipSpace = (pos: number) => {
    while (pos < source.length && /\s/.test(source[pos]!)) pos++;
    return pos;
  };

  function string(quote: string): void {
    const start = i++;
    while (i < source.length && source[i] !== quote) {
      if (source[i] === "\\") i++;
      if (source[i] === "\n") fail("unterminated string", start);
      i++;
    }
    if (i >= source.length) fail("unterminated string", start);
    blank(start + 1, i);
    i++;
  }

  function template(): void {
    const start = i++;
    let textFrom = i;
    while (i < source.length && source[i] !== "`") {
      if (source[i] === "\\") {
        i += 2;
        continue;
      }
      if (source[i] === "$" && source[i + 1] === "{") {
        blank(textFrom, i);
        i += 2;
        code("}");
        i++;
        textFrom = i;
        continue;
      }
      i++;
    }
    if (i >= source.length) fail("unterminated template", start);
    blank(textFrom, i);
    i++;
  }

  function regex(): void {
    const start = i++;
    let inClass = false;
    while (i < source.length) {
      const c = source[i]!;
      if (c === "\n") fail("unterminated regular expression", start);
      if (c === "\\") i++;
      else if (c === "[") inClass = true;
      else if (c === "]") inClass = false;
      else if (c === "/" && !inClass) break;
      i++;
    }
    blank(start + 1, i);
    i++;
    while (i < source.length && /[a-z]/.test(source[i]!)) i++;
  }

  /** `sql` was just read (ending before `i`), not as a member: what kind of tag is it? */
  function sqlTag(at: number): void {
    let j = skipSpace(i);
    if (source[j] === "<") {
      let depth = 0;
      for (; j < source.length; j++) {
        if (source[j] === "=" && source[j + 1] === ">") j++;
        else if (source[j] === "<") depth++;
        else if (source[j] === ">" && --depth === 0) break;
      }
      j = skipSpace(j + 1);
      if (source[j] !== "`") return; // a comparison or a type, not a tag
    }
    if (source[j] === "`") {
      const tag = { line: lineAt(at), kind: "template" as const, statement: false };
      tags.push(tag);
      i = j;
      template();
      tag.statement = executed(i);
      lastChar = "`";
      return;
    }
    const member = /^\.\s*(\w+)/.exec(source.slice(j));
    if (!member) return;
    if (member[1] !== "raw") {
      tags.push({ line: lineAt(at), kind: "helper", statement: false });
      return;
    }
    const open = skipSpace(j + member[0].length);
    if (source[open] !== "(") return;
    const tag = { line: lineAt(at), kind: "raw" as const, statement: false };
    tags.push(tag);
    i = open + 1;
    code(")");
    i++;
    tag.statement = executed(i);
    lastChar = ")";
  }

  const executed = (pos: number) => /^\s*\.\s*execute\s*\(/.test(source.slice(pos, pos + 200));

  /** Lexes code up to the unmatched `close` (or the end of the source when none). */
  function code(close?: string): void {
    const closers: string[] = [];
    while (i < source.length) {
      const c = source[i]!;
      if (close !== undefined && closers.length === 0 && c === close) return;
      if (c === "/" && source[i + 1] === "/") {
        const end = source.indexOf("\n", i);
        const to = end < 0 ? source.length : end;
        blank(i, to);
        i = to;
      } else if (c === "/" && source[i + 1] === "*") {
        const end = source.indexOf("*/", i + 2);
        if (end < 0) fail("unterminated comment", i);
        blank(i, end + 2);
        i = end + 2;
      } else if (c === "'" || c === '"') {
        string(c);
        lastChar = c;
      } else if (c === "`") {
        template();
        lastChar = "`";
      } else if (c === "/") {
        const regexHere = lastChar === "" || /[(,=:[!&|?{};+\-*%<>~^]/.test(lastChar) ||
          (/\w/.test(lastChar) && REGEX_AFTER_WORD.has(lastWord));
        if (regexHere) {
          regex();
          lastChar = "/";
        } else {
          i++;
          lastChar = "/";
        }
      } else if (/[A-Za-z_$]/.test(c)) {
        const start = i;
        while (i < source.length && /[\w$]/.test(source[i]!)) i++;
        const word = source.slice(start, i);
        const member = lastChar === "." && !source.slice(0, start).endsWith("..");
        lastChar = word.at(-1)!;
        lastWord = word;
        if (word === "sql" && !member) sqlTag(start);
      } else if (/\s/.test(c)) {
        i++;
      } else {
        if (c === "(" || c === "[" || c === "{") closers.push(c);
        else if (c === ")" || c === "]" || c === "}") {
          if (closers.length === 0) fail(`unbalanced '${c}'`, i);
          closers.pop();
        }
        lastChar = c;
        lastWord = "";
        i++;
      }
    }
    if (close !== undefined) fail(`missing '${close}'`, i);
  }

  code();
  return { tags, code: masked.join("") };
}

/** Every `.ts` file under `dir` (a path from the repository root), sorted. */
export async function sourcesUnder(root: URL, dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(new URL(dir, root))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await sourcesUnder(root, path));
    else if (e.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

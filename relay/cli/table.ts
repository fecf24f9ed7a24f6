/**
 * Aligned plain-text tables, the way `postqueue -p` and `ps` print: a header row, columns padded
 * to their widest cell, long cells cut with an ellipsis, numbers right-aligned.
 *
 * @module
 */

export interface Column {
  readonly title: string;
  /** Cells longer than this are cut. */
  readonly max?: number;
  readonly align?: "left" | "right";
}

export function formatTable(
  columns: readonly Column[],
  rows: readonly (readonly unknown[])[],
): string {
  const cells = rows.map((row) => columns.map((c, i) => clip(oneLine(row[i]), c.max ?? 60)));
  const widths = columns.map((c, i) =>
    Math.max(c.title.length, ...cells.map((r) => [...r[i]!].length))
  );
  const line = (values: readonly string[]) =>
    values.map((v, i) => {
      const pad = " ".repeat(widths[i]! - [...v].length);
      return columns[i]!.align === "right" ? pad + v : v + pad;
    }).join("  ").trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)].join("\n") + "\n";
}

function oneLine(v: unknown): string {
  if (v === null || v === undefined) return "";
  return String(v).replace(/\s+/g, " ").trim();
}

function clip(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : chars.slice(0, Math.max(1, max - 1)).join("") + "…";
}

/** `3s`, `4m`, `2h`, `5d` for a span in milliseconds (negative: the future). */
export function shortSpan(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** A small parser of the Prometheus text format, for asserting on a scrape. */

/** Samples by `name{label="v",...}` exactly as exposed (labels in exposition order). */
export function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`Cannot parse the exposition line ${JSON.stringify(line)}`);
    const value = m[2] === "+Inf" ? Infinity : m[2] === "-Inf" ? -Infinity : Number(m[2]);
    samples.set(m[1]!, value);
  }
  return samples;
}

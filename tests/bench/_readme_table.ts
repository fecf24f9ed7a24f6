/**
 * The README's performance table, from relay_bench.ts's JSON lines (other lines are ignored):
 *
 *     deno task bench relay | tee bench.jsonl
 *     deno run -A tests/bench/_readme_table.ts bench.jsonl     (or pipe the lines in)
 *
 * relay_bench.ts prints the same table at its end as the human summary.
 *
 * @module
 */

type Figure = Record<string, unknown>;

const n = (x: unknown, digits = 0) =>
  typeof x === "number" && Number.isFinite(x)
    ? x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "–";
const load = (x: unknown) => (Array.isArray(x) ? n(x[0], 2) : "–");
const met = (ok: boolean | undefined) => (ok === undefined ? "" : ok ? "yes" : "**no**");

/** Parses JSON lines, skipping anything else (headers, the summary itself). */
export function parseFigures(text: string): Figure[] {
  const out: Figure[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as Figure);
    } catch {
      // Not a figure.
    }
  }
  return out;
}

/** The markdown table (with its heading lines) for the figures of one relay_bench run. */
export function markdownTable(figures: readonly Figure[]): string {
  const find = (f: (x: Figure) => boolean) => figures.find(f);
  const env = find((x) => x.bench === "env");
  const is = (phase: string, system?: string, dkim?: string) => (x: Figure) =>
    x.bench === "relay" && x.phase === phase && (system === undefined || x.system === system) &&
    (dkim === undefined || x.dkim === dkim);
  const ferry = find(is("drain", "ferry", "none"));
  const postfix = find(is("drain", "postfix"));
  const ratio = find(is("ratio"));
  const latency = find(is("latency"));
  const ferryCpu = find(is("drain-cpu", "ferry", "none"))?.cpu_ms_per_message as
    | Record<string, number>
    | undefined;
  const postfixCpu = find(is("drain-cpu", "postfix"))?.cpu_ms_per_message as
    | Record<string, number>
    | undefined;
  const db = find(is("drain-db"));
  const profile = find(is("drain-profile"));
  const knobs = Object.entries(
    (find(is("settings"))?.knobs ?? {}) as Record<string, string>,
  ).map(([k, v]) => `${k}=${/^[\w.,:-]+$/.test(v) ? v : `'${v}'`} `).join("");
  const variant = figures.find((x) => typeof x.variant === "string")?.variant;
  const rows: [string, string, string, string][] = [];
  if (ferry) {
    rows.push([
      `drain, Ferry (${n(ferry.messages)} × ${n(ferry.message_bytes)} B, ${
        n(ferry.domains)
      } domains)`,
      `${n(ferry.messages_per_s)} msg/s`,
      "",
      "",
    ]);
  }
  if (postfix) {
    rows.push([
      "drain, Postfix (same backlog, same sink)",
      `${n(postfix.messages_per_s)} msg/s`,
      "",
      "",
    ]);
  }
  if (ratio) {
    const r = ratio.ferry_over_postfix as number;
    rows.push(["Ferry / Postfix", `${n(r, 2)}×`, "≥ 3×", met(r >= 3)]);
    const cpu = ratio.cpu_ms_per_message as Record<string, number> | undefined;
    if (cpu) {
      rows.push([
        "CPU ms per message: Ferry (relay + PostgreSQL) / Postfix",
        `${n(cpu.ferry, 2)} / ${n(cpu.postfix, 2)} (Postfix uses ${
          n(ratio.postfix_cpu_over_ferry_cpu, 2)
        }×)`,
        "",
        "",
      ]);
    }
  }
  for (const x of figures.filter(is("dkim"))) {
    const cost = x.cost_pct as number;
    const pairs = (x.pairs ?? []) as { cost_pct: number }[];
    const each = pairs.length > 1
      ? `, median of ${pairs.map((p) => `${n(p.cost_pct)}%`).join(", ")}`
      : "";
    rows.push([
      `drain with DKIM ${x.dkim} (${x.key})`,
      `${n(x.messages_per_s)} msg/s, ${n(x.relative, 2)} of unsigned (cost ${n(cost)}%${each}; ` +
      `in CPU per message ${n(x.cpu_cost_pct)}%)`,
      `cost ≤ ${x.target_cost_pct}%`,
      met(cost <= (x.target_cost_pct as number)),
    ]);
  }
  if (latency) {
    const ok = (latency.p50_ms as number) <= 15 && (latency.p99_ms as number) <= 50;
    rows.push([
      `latency commit → 250 at ${latency.rate_per_s}/s, p50 / p99 / max (n = ${n(latency.n)})`,
      `${n(latency.p50_ms, 1)} / ${n(latency.p99_ms, 1)} / ${n(latency.max_ms, 1)} ms`,
      "≤ 15 / ≤ 50 ms",
      met(ok),
    ]);
    const pickup = latency.commit_to_ingested_ms as Record<string, number> | undefined;
    const send = latency.ingested_to_250_ms as Record<string, number> | undefined;
    if (pickup && send) {
      rows.push([
        "of which commit → ingested / ingested → 250, p50 and p99",
        `${n(pickup.p50, 1)}, ${n(pickup.p99, 1)} / ${n(send.p50, 1)}, ${n(send.p99, 1)} ms`,
        "",
        "",
      ]);
    }
  }
  if (ferryCpu) {
    rows.push([
      "CPU ms per message, Ferry drain: relay / PostgreSQL / smtp-sink",
      `${n(ferryCpu.relay, 2)} / ${n(ferryCpu.postgres, 2)} / ${n(ferryCpu.sink, 2)}`,
      "",
      "",
    ]);
  }
  if (postfixCpu) {
    rows.push([
      "CPU ms per message, Postfix drain: Postfix / smtp-sink",
      `${n(postfixCpu.postfix, 2)} / ${n(postfixCpu.sink, 2)}`,
      "",
      "",
    ]);
  }
  if (ferry) rows.push(["relay peak RSS (drain)", `${n(ferry.peak_rss_mb)} MB`, "", ""]);
  if (db) rows.push(["commits per message (drain)", n(db.commits_per_message, 3), "", ""]);
  if (ferry && postfix) {
    rows.push([
      "load average (1 min): before Ferry's drain / after Postfix's",
      `${load(ferry.load_avg_before)} / ${load(postfix.load_avg_after)}`,
      "",
      "",
    ]);
  }
  const others = [
    find(is("drain-cpu", "ferry", "none")),
    find(is("drain-cpu", "postfix")),
    find(is("latency-cpu")),
  ].map((x) => (x?.cores_used as Record<string, number> | undefined)?.other);
  if (others.some((x) => x !== undefined)) {
    rows.push([
      "cores used by the rest of the machine: Ferry's drain / Postfix's / latency run",
      `${others.map((x) => n(x, 2)).join(" / ")} of ${env?.cores ?? "?"}`,
      "",
      "",
    ]);
  }
  const head = [
    `Run of ${String(env?.date ?? "?").slice(0, 16).replace("T", " ")} UTC` +
    (env?.commit ? ` at ${env.commit}` : "") +
    `, ${env?.cores ?? "?"} cores, load average ${load(env?.load_avg)} at the start; PostgreSQL ` +
    (env?.durable
      ? "at its defaults (fsync, synchronous_commit, full_page_writes on)"
      : String(variant ?? "not durable")) +
    `. Command: \`${knobs}deno task bench relay\`.`,
    "",
    "| figure | measured | target | met |",
    "| --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ];
  if (profile) {
    const fns = (profile.functions as { name: string; selfPct: number }[]).slice(0, 6);
    head.push(
      "",
      `Relay CPU profile (${profile.seconds} s of a separate drain with the inspector on; ` +
        `idle ${profile.idlePct}% of samples), top self time: ` +
        fns.map((f) => `${f.name} ${f.selfPct}%`).join("; ") + ".",
    );
  }
  return head.join("\n");
}

if (import.meta.main) {
  const file = Deno.args[0];
  const text = file
    ? await Deno.readTextFile(file)
    : await new Response(Deno.stdin.readable).text();
  console.log(markdownTable(parseFigures(text)));
}

/**
 * CPU seconds of named processes over a run (from /proc), plus the benchmark process itself and
 * "other": what the machine spent beyond all of them (other tenants of a shared machine, kernel
 * threads).
 *
 * @module
 */
import { machineCpu, procStats } from "../_support/relay_process.ts";

export interface CpuUse {
  /** CPU seconds per part, plus `bench` and `other`. */
  readonly used: Record<string, number>;
  /** How busy the whole machine was over the run, in percent of all its cores. */
  readonly busyPct: number;
}

/** Starts metering; the returned function reads the use since then. */
export function cpuMeter(parts: Record<string, () => number>): () => CpuUse {
  const read = () => ({
    machine: machineCpu(),
    self: procStats(Deno.pid)?.cpu ?? 0,
    parts: Object.fromEntries(Object.entries(parts).map(([k, f]) => [k, f()])),
  });
  const a = read();
  return () => {
    const b = read();
    const used: Record<string, number> = {};
    for (const k of Object.keys(parts)) used[k] = b.parts[k]! - a.parts[k]!;
    used.bench = b.self - a.self;
    const busy = b.machine.busy - a.machine.busy;
    used.other = Math.max(0, busy - Object.values(used).reduce((x, y) => x + y, 0));
    return { used, busyPct: Math.round((100 * busy) / (b.machine.total - a.machine.total)) };
  };
}

/** The figure: CPU seconds, cores used and CPU ms per message, per part. */
export function cpuFigure(
  seconds: number,
  messages: number,
  cpu: CpuUse,
): Record<string, unknown> {
  const per = (f: (v: number) => number) =>
    Object.fromEntries(Object.entries(cpu.used).map(([k, v]) => [k, f(v)]));
  return {
    cores: navigator.hardwareConcurrency,
    machine_busy_pct: cpu.busyPct,
    cpu_s: per((v) => Number(v.toFixed(2))),
    cores_used: per((v) => Number((v / seconds).toFixed(2))),
    cpu_ms_per_message: per((v) => Number(((1000 * v) / messages).toFixed(3))),
  };
}

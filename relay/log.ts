/**
 * The JSON-lines logger: one object per line on stdout, with a timestamp. The only place that
 * writes log output; everything else emits typed events through the Logger port.
 *
 * @module
 */
import type { Clock } from "./clock.ts";
import type { LogEvent, Logger } from "../actors/ports.ts";

export function jsonLogger(clock: Clock, write: (line: string) => void): Logger {
  return {
    log(event: LogEvent) {
      write(JSON.stringify({ time: new Date(clock.now()).toISOString(), ...event }));
    },
  };
}

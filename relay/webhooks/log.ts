/**
 * The dispatcher's events as lines of the relay's log. Successes are only counted
 * (`ferry_webhook_attempts_total`, `webhook.pass`); a failed POST is news, and idle passes are
 * not worth a line. URLs lose their credentials and query, either of which may carry a secret.
 *
 * @module
 */
import type { WebhookLogEvent } from "./dispatcher.ts";

/** The log lines webhook delivery adds to the relay's log. */
export type WebhookLogLine =
  /** A webhook POST that failed; `url` without credentials or query. */
  | {
    readonly event: "webhook.attempted";
    readonly id: number;
    readonly url: string;
    readonly attempt: number;
    readonly outcome: "delivered" | "failed";
    readonly status: number | null;
    readonly error?: string;
  }
  /** A dispatcher pass that did something. */
  | { readonly event: "webhook.pass"; readonly fannedOut: number; readonly attempted: number }
  | { readonly event: "webhook.loop_failed"; readonly error: string };

/** The log line for one dispatcher event, or undefined when it is not worth one. */
export function webhookLogLine(e: WebhookLogEvent): WebhookLogLine | undefined {
  switch (e.kind) {
    case "webhook.attempted": {
      if (e.outcome === "delivered") return undefined;
      const url = safeUrl(e.url);
      return {
        event: "webhook.attempted",
        id: e.id,
        url,
        attempt: e.attempt,
        outcome: e.outcome,
        status: e.status,
        ...(e.error !== undefined ? { error: e.error.replaceAll(e.url, url) } : {}),
      };
    }
    case "webhook.pass":
      if (e.fannedOut + e.attempted === 0) return undefined;
      return { event: "webhook.pass", fannedOut: e.fannedOut, attempted: e.attempted };
    case "webhook.loop_failed":
      return { event: "webhook.loop_failed", error: e.error };
  }
}

/** A webhook URL for the log: no credentials, no query. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid url)";
  }
}

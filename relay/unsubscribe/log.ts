/**
 * The public listener's log lines: each accepted unsubscribe, and each refused request with
 * why (a burst of `forged` is someone guessing tokens).
 *
 * @module
 */

export type UnsubscribeLogLine =
  | {
    readonly event: "unsubscribe.accepted";
    readonly delivery_id: number;
    readonly sender_domain: string;
    readonly via: "https" | "mailto";
  }
  | {
    readonly event: "unsubscribe.refused";
    readonly problem: "malformed" | "forged" | "expired" | "used" | "bad_request";
    readonly reason: string;
    readonly via: "https" | "mailto";
  }
  | { readonly event: "unsubscribe.failed"; readonly error: string };

export interface UnsubscribeLogger {
  log(line: UnsubscribeLogLine): void;
}

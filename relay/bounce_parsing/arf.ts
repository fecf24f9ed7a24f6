/**
 * The `message/feedback-report` part of an ARF report (RFC 5965 §3.1): a single group of fields
 * describing a complaint about one message.
 *
 * @module
 */
import { parseFields } from "./fields.ts";

export interface FeedbackReport {
  /** Lower-cased: `abuse`, `fraud`, `virus`, `other`, `not-spam`, `auth-failure` (RFC 6591). */
  readonly feedbackType: string;
  readonly userAgent?: string;
  /** Original-Mail-From: our envelope sender, VERP address included. */
  readonly originalMailFrom?: string;
  /** Original-Rcpt-To: the complaining recipient (often redacted by the reporter). */
  readonly originalRcptTo?: string;
  readonly arrivalDate?: string;
  readonly sourceIp?: string;
}

/** Parses a feedback-report body; `undefined` without the mandatory Feedback-Type. */
export function parseFeedbackReport(text: string): FeedbackReport | undefined {
  const fields = parseFields(text);
  const feedbackType = fields.get("feedback-type")?.toLowerCase();
  if (!feedbackType) return undefined;
  const bare = (v: string | undefined) => v?.replace(/^<|>$/g, "").trim() || undefined;
  return {
    feedbackType,
    userAgent: fields.get("user-agent"),
    originalMailFrom: bare(fields.get("original-mail-from")),
    originalRcptTo: bare(fields.get("original-rcpt-to")),
    // RFC 5965 §3.2 names it Arrival-Date; some reporters still send Received-Date.
    arrivalDate: fields.get("arrival-date") ?? fields.get("received-date"),
    sourceIp: fields.get("source-ip"),
  };
}

/**
 * The `tlsReports` section of the JSON config file (FERRY_CONFIG), as a strict Zod schema:
 * mounted as `tlsReports: tlsReportsSchema.optional()` in relay/config/config.ts. Absent: no
 * TLS results are kept and no report is sent.
 *
 * ```json
 * "tlsReports": {
 *   "organizationName": "Example Inc.",
 *   "contact": "postmaster@example.com",
 *   "from": "TLS reports <tlsrpt@mail.example.com>",
 *   "sendHour": 2
 * }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { parseMailbox } from "../../lib/message/address.ts";
import { durationSchema } from "../../lib/unit_schemas.ts";
import { asciiDomain } from "./counts.ts";

const mailbox = z.string().superRefine((value, ctx) => {
  if (!/^[\x20-\x7e]+$/.test(value)) {
    ctx.addIssue({ code: "custom", message: "must be printable ASCII" });
    return;
  }
  const parsed = parseMailbox(value);
  if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.reason });
});

export const tlsReportsSchema = z.strictObject({
  /** Off: results are not kept and nothing is sent, the section kept for later. */
  enabled: z.boolean().default(true),
  /** RFC 8460 §4.4 `organization-name`. */
  organizationName: z.string().min(1).max(200).regex(/^[\x20-\x7e]+$/, "must be printable ASCII"),
  /** RFC 8460 §4.4 `contact-info`: an address for questions about the reports. */
  contact: mailbox.transform((v) => {
    const parsed = parseMailbox(v);
    return parsed.ok ? parsed.mailbox.address : v;
  }),
  /** From of the report mails; its domain should have a DKIM key (`dkim`), as §3 expects. */
  from: mailbox,
  /**
   * The submitter (RFC 8460 §5.3 `TLS-Report-Submitter`, the file name's sender, §5.1):
   * default, the domain of `from`.
   */
  submitter: z.string().optional().superRefine((value, ctx) => {
    if (value !== undefined && asciiDomain(value) !== value.toLowerCase()) {
      ctx.addIssue({ code: "custom", message: "must be a domain name (A-labels)" });
    }
  }),
  /** The UTC hour (0-23) at which the previous day's reports go out (§4.1: after a delay). */
  sendHour: z.int().min(0).max(23).default(1),
  /** Deadline of one HTTPS POST. */
  timeout: durationSchema(1000).prefault("30s"),
  /** Counters and sent reports older than this are purged. */
  retention: durationSchema(2 * 86_400_000).prefault("30d"),
}).transform((c) => {
  const from = parseMailbox(c.from);
  const submitter = c.submitter?.toLowerCase() ?? (from.ok ? from.mailbox.domain : "");
  return { ...c, submitter };
});

export type TlsReportsConfigInput = z.input<typeof tlsReportsSchema>;
export type TlsReportsConfig = z.output<typeof tlsReportsSchema>;

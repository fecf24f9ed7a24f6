/**
 * The aggregate report (RFC 8460 §4): its JSON, built from a day's counters for one policy
 * domain, checked against the schema of §4.4, gzip-compressed (§5.2), and the file name it
 * travels under (§5.1).
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { z } from "zod";
import { dayStart, type ResultCount } from "./counts.ts";
import { FAILURE_TYPES, POLICY_TYPES } from "./result.ts";

const dateTime = z.iso.datetime({ offset: true });
const count = z.int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const domain = z.string().regex(
  /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i,
  "must be a domain name",
);
const ip = z.union([z.ipv4(), z.ipv6()]);

/**
 * RFC 8460 §4.4's report, as a strict schema: a field the RFC does not define is an error, so a
 * misspelt key never leaves Ferry. `mx-host` is an array of strings, as the verified erratum to
 * the RFC's examples has it (receivers read it as such). The optional fields are those §4.4 and
 * the reports in the wild leave out when unknown.
 */
export const tlsReportSchema = z.strictObject({
  "organization-name": z.string().min(1),
  "date-range": z.strictObject({
    "start-datetime": dateTime,
    "end-datetime": dateTime,
  }),
  "contact-info": z.string().min(1),
  "report-id": z.string().min(1),
  policies: z.array(z.strictObject({
    policy: z.strictObject({
      "policy-type": z.enum(POLICY_TYPES),
      "policy-string": z.array(z.string()).min(1).optional(),
      "policy-domain": domain,
      "mx-host": z.array(z.string().min(1)).min(1).optional(),
    }),
    summary: z.strictObject({
      "total-successful-session-count": count,
      "total-failure-session-count": count,
    }),
    "failure-details": z.array(z.strictObject({
      "result-type": z.enum(FAILURE_TYPES),
      "sending-mta-ip": ip.optional(),
      "receiving-mx-hostname": z.string().min(1).optional(),
      "receiving-mx-helo": z.string().min(1).optional(),
      "receiving-ip": ip.optional(),
      "failed-session-count": count.min(1),
      "additional-information": z.url().optional(),
      "failure-reason-code": z.string().min(1).optional(),
    })).min(1).optional(),
  })).min(1),
});

export type TlsReport = z.output<typeof tlsReportSchema>;
type PolicyEntry = TlsReport["policies"][number];
type FailureDetail = NonNullable<PolicyEntry["failure-details"]>[number];

/** Who reports, and which report this is. */
export interface ReportMeta {
  /** RFC 8460 §4.4 `organization-name`. */
  readonly organizationName: string;
  /** RFC 8460 §4.4 `contact-info`: an e-mail address. */
  readonly contactInfo: string;
  readonly reportId: string;
  /** The UTC day covered, `YYYY-MM-DD`. */
  readonly day: string;
  /** The policy domain, lower-case A-labels. */
  readonly policyDomain: string;
}

const DAY_SECONDS = 86_400;

/**
 * The report of one policy domain for one day: one `policies` entry per distinct policy applied
 * (type, strings, MX host), each with its success and failure counts and the failures grouped
 * by their details. Counters of other domains or days are ignored. Deterministic: the same
 * counters in any order give the same report, so a retry sends the same bytes.
 */
export function buildTlsReport(meta: ReportMeta, counts: readonly ResultCount[]): TlsReport {
  const start = dayStart(meta.day);
  const groups = new Map<string, ResultCount[]>();
  for (const c of counts) {
    if (c.day !== meta.day || c.policyDomain !== meta.policyDomain) continue;
    const key = JSON.stringify([c.policyType, c.policyHash, c.mxHost]);
    groups.set(key, [...groups.get(key) ?? [], c]);
  }
  const policies = [...groups.entries()].sort(([a], [b]) => compare(a, b))
    .map(([, group]) => policyEntry(meta.policyDomain, group));
  return {
    "organization-name": meta.organizationName,
    // §4.1: a full UTC day; the end is its last second, as the RFC's example writes it.
    "date-range": {
      "start-datetime": isoSeconds(start),
      "end-datetime": isoSeconds(start + (DAY_SECONDS - 1) * 1000),
    },
    "contact-info": meta.contactInfo,
    "report-id": meta.reportId,
    policies,
  };
}

function policyEntry(policyDomain: string, group: readonly ResultCount[]): PolicyEntry {
  const first = group[0]!;
  let successes = 0;
  let failures = 0;
  const details = new Map<string, { detail: FailureDetail; key: string }>();
  for (const c of group) {
    if (c.resultType === "success") {
      successes += c.sessions;
      continue;
    }
    failures += c.sessions;
    const key = JSON.stringify([
      c.resultType,
      c.sendingMtaIp,
      c.receivingMxHostname,
      c.receivingMxHelo,
      c.receivingIp,
      c.additionalInfo,
      c.failureReasonCode,
    ]);
    const held = details.get(key);
    if (held) {
      held.detail = {
        ...held.detail,
        "failed-session-count": held.detail["failed-session-count"] + c.sessions,
      };
      continue;
    }
    details.set(key, { key, detail: failureDetail(c) });
  }
  const mxHost = first.mxHost !== "" ? [first.mxHost] : stsMxPatterns(first);
  const failureDetails = [...details.values()]
    .sort((a, b) =>
      b.detail["failed-session-count"] - a.detail["failed-session-count"] ||
      compare(a.key, b.key)
    )
    .map((d) => d.detail);
  return {
    policy: {
      "policy-type": first.policyType,
      ...(first.policyStrings.length > 0 ? { "policy-string": [...first.policyStrings] } : {}),
      "policy-domain": policyDomain,
      ...(mxHost.length > 0 ? { "mx-host": mxHost } : {}),
    },
    summary: {
      "total-successful-session-count": successes,
      "total-failure-session-count": failures,
    },
    ...(failureDetails.length > 0 ? { "failure-details": failureDetails } : {}),
  };
}

function failureDetail(c: ResultCount): FailureDetail {
  const optional = (name: keyof FailureDetail, value: string) =>
    value === "" ? {} : { [name]: value };
  return {
    "result-type": c.resultType as FailureDetail["result-type"],
    ...optional("sending-mta-ip", c.sendingMtaIp),
    ...optional("receiving-mx-hostname", c.receivingMxHostname),
    ...optional("receiving-mx-helo", c.receivingMxHelo),
    ...optional("receiving-ip", c.receivingIp),
    "failed-session-count": c.sessions,
    ...optional("additional-information", c.additionalInfo),
    ...optional("failure-reason-code", c.failureReasonCode),
  };
}

/** §4.4 `mx-host` of an MTA-STS policy: the patterns of its `mx:` lines (RFC 8461 §3.2). */
function stsMxPatterns(c: ResultCount): string[] {
  if (c.policyType !== "sts") return [];
  return c.policyStrings.map((line) => /^mx[ \t]*:[ \t]*(\S+)[ \t]*$/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);
}

/** Why `report` does not meet RFC 8460 §4.4, or undefined when it does. */
export function reportProblem(report: unknown): string | undefined {
  const parsed = tlsReportSchema.safeParse(report);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0]!;
  return `${issue.path.join(".") || "(root)"}: ${issue.message}`;
}

/** The report as sent: its JSON, gzip-compressed (RFC 8460 §5.2). */
export function gzipReport(report: TlsReport): Uint8Array {
  return new Uint8Array(gzipSync(new TextEncoder().encode(JSON.stringify(report))));
}

/**
 * The report's file name (RFC 8460 §5.1):
 * `<sender>!<policy-domain>!<begin-timestamp>!<end-timestamp>[!<unique-id>].json.gz`, the sender
 * being the submitter's domain and the timestamps the covered range in Unix seconds.
 */
export function reportFileName(
  submitter: string,
  policyDomain: string,
  day: string,
  uniqueId?: string,
): string {
  const begin = dayStart(day) / 1000;
  const end = begin + DAY_SECONDS - 1;
  if (uniqueId !== undefined && !/^[A-Za-z0-9]+$/.test(uniqueId)) {
    throw new RangeError(`unique-id ${JSON.stringify(uniqueId)} must be letters and digits`);
  }
  return `${submitter}!${policyDomain}!${begin}!${end}${uniqueId ? `!${uniqueId}` : ""}.json.gz`;
}

/**
 * The report's id: `<day>.<policy domain>@<submitter>`. Deterministic, so every instance and
 * every retry name the same report the same way (a receiver drops duplicates by it, RFC 8460
 * §5.3), and shaped as a msg-id's inside (RFC 5322 §3.6.4), as the Subject's `Report-ID:` wants.
 */
export function reportIdFor(day: string, policyDomain: string, submitter: string): string {
  return `${day}.${policyDomain}@${submitter}`;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

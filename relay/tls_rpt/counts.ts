/**
 * Results as counted: the sessions of one UTC day with the same policy and the same outcome
 * (and, for failures, the same details) are one counter. That is all a report needs (RFC 8460
 * §4.4 reports counts, never single sessions), and it keeps storage to a few rows per domain and
 * day however much mail goes out.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import type { FailureType, PolicyType, TlsResult } from "./result.ts";

/** A counter: how many sessions of `day` had this policy and this outcome. */
export interface ResultCount {
  /** The UTC day, `YYYY-MM-DD` (RFC 8460 §4.1: a report covers 00:00-24:00 UTC). */
  readonly day: string;
  /** Lower-case A-labels, no trailing dot. */
  readonly policyDomain: string;
  readonly policyType: PolicyType;
  readonly policyStrings: readonly string[];
  /** SHA-256 (hex) of the policy strings; "" when there are none. */
  readonly policyHash: string;
  /** "" when the policy names no MX host. */
  readonly mxHost: string;
  readonly resultType: "success" | FailureType;
  // The failure details; "" when unknown, and always "" for a success.
  readonly sendingMtaIp: string;
  readonly receivingMxHostname: string;
  readonly receivingMxHelo: string;
  readonly receivingIp: string;
  readonly additionalInfo: string;
  readonly failureReasonCode: string;
  readonly sessions: number;
}

const DAY_MS = 86_400_000;
// Every text field of a counter is part of its key (and of the table's primary key, whose index
// entries PostgreSQL caps near 2.7 kB), so each is capped, and made printable ASCII: the free
// text comes from remote servers (EHLO names, TLS alerts) and ends up in someone else's report.
const MAX_NAME = 255;
const MAX_TEXT = 400;
const MAX_POLICY_STRINGS = 100;
const MAX_POLICY_STRING = 1000;

/** The UTC day of `ms`, `YYYY-MM-DD`. */
export function utcDay(ms: number): string {
  return new Date(Math.floor(ms / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
}

/** The start of a UTC day (`YYYY-MM-DD`) in ms since the epoch. */
export function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

/** The day `n` days after `day` (before, for negative `n`). */
export function addDays(day: string, n: number): string {
  return utcDay(dayStart(day) + n * DAY_MS);
}

/**
 * A domain as reports and DNS names carry it: lower-case A-labels (RFC 5890), no trailing dot;
 * "" when it is not a domain name.
 */
export function asciiDomain(domain: string): string {
  const bare = domain.trim().replace(/\.$/, "");
  if (bare === "" || bare.length > 253) return "";
  const ascii = domainToASCII(bare).toLowerCase();
  return /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(ascii)
    ? ascii
    : "";
}

/** The counter a result adds one session to; undefined when its domain is not a domain name. */
export function countOf(result: TlsResult): ResultCount | undefined {
  const policyDomain = asciiDomain(result.domain);
  if (policyDomain === "" || !Number.isFinite(result.at)) return undefined;
  const strings = (result.policy.strings ?? []).slice(0, MAX_POLICY_STRINGS)
    .map((s) => printable(s, MAX_POLICY_STRING));
  const failure = result.outcome === "success" ? undefined : result.outcome;
  return {
    day: utcDay(result.at),
    policyDomain,
    policyType: result.policy.type,
    policyStrings: strings,
    policyHash: policyHash(strings),
    mxHost: name(result.policy.mxHost),
    resultType: failure ? failure.failure : "success",
    sendingMtaIp: address(failure?.sendingMtaIp),
    receivingMxHostname: name(failure?.receivingMxHostname),
    receivingMxHelo: name(failure?.receivingMxHelo),
    receivingIp: address(failure?.receivingIp),
    additionalInfo: uri(failure?.additionalInfo),
    failureReasonCode: printable(failure?.failureReasonCode ?? "", MAX_TEXT),
    sessions: 1,
  };
}

/** What makes two counters one: everything but the count (the strings are in their hash). */
export function countKey(c: ResultCount): string {
  return JSON.stringify([
    c.day,
    c.policyDomain,
    c.policyType,
    c.policyHash,
    c.mxHost,
    c.resultType,
    c.sendingMtaIp,
    c.receivingMxHostname,
    c.receivingMxHelo,
    c.receivingIp,
    c.additionalInfo,
    c.failureReasonCode,
  ]);
}

/** SHA-256 of the strings, each ended by a newline; "" for none. */
export function policyHash(strings: readonly string[]): string {
  if (strings.length === 0) return "";
  const h = createHash("sha256");
  for (const s of strings) h.update(`${s}\n`);
  return h.digest("hex");
}

function name(value: string | undefined): string {
  return printable((value ?? "").replace(/\.$/, "").toLowerCase(), MAX_NAME);
}

// The report's schema types these (RFC 8460 §4.4): what does not fit is left out, not sent.
function address(value: string | undefined): string {
  const v = (value ?? "").trim().toLowerCase();
  return isIP(v) === 0 ? "" : v;
}

function uri(value: string | undefined): string {
  const v = printable(value ?? "", MAX_TEXT);
  return URL.canParse(v) ? v : "";
}

function printable(value: string, max: number): string {
  return value.replace(/[^\x20-\x7e]+/g, "?").trim().slice(0, max);
}

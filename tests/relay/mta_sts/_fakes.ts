/**
 * Scripted ports for the policy logic: TXT answers and policy files per domain, with the calls
 * they saw.
 *
 * @module
 */
import type { FetchPolicy, LookupTxt, Parsed, TxtAnswer } from "../../../relay/mta_sts/mod.ts";

export class ScriptedDns {
  readonly asked: string[] = [];
  readonly #answers = new Map<string, TxtAnswer>();

  /** The records of `_mta-sts.<domain>`; a domain never set answers NXDOMAIN. */
  set(domain: string, answer: TxtAnswer | readonly string[]): this {
    const value: TxtAnswer = Array.isArray(answer)
      ? { kind: "records", records: answer as readonly string[] }
      : answer as TxtAnswer;
    this.#answers.set(`_mta-sts.${domain}`, value);
    return this;
  }

  readonly lookupTxt: LookupTxt = (name) => {
    this.asked.push(name);
    return Promise.resolve(this.#answers.get(name) ?? { kind: "nxdomain" });
  };
}

export class ScriptedWeb {
  readonly fetched: string[] = [];
  readonly #files = new Map<string, Parsed<string>>();
  /** Runs inside the next fetch, before it answers (to interleave another instance). */
  during?: () => Promise<void>;

  /** The policy file of `domain`, or (a string starting with "!") why its fetch fails. */
  set(domain: string, file: string): this {
    this.#files.set(
      domain,
      file.startsWith("!") ? { ok: false, reason: file.slice(1) } : { ok: true, value: file },
    );
    return this;
  }

  readonly fetchPolicy: FetchPolicy = async (domain) => {
    this.fetched.push(domain);
    const during = this.during;
    this.during = undefined;
    await during?.();
    return this.#files.get(domain) ?? { ok: false, reason: `no server for ${domain}` };
  };
}

/** A policy file. */
export function policyFile(mode: string, maxAge: number, ...mx: string[]): string {
  return ["version: STSv1", `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${maxAge}`]
    .join("\r\n") + "\r\n";
}

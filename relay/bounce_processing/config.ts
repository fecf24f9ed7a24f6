/**
 * The bounce mailbox configuration (the `bounce` section of `FERRY_CONFIG`), validated strictly:
 * unknown keys are rejected, so a typo is an error at start rather than a silently ignored key.
 *
 * ```json
 * {
 *   "host": "pop.example.com",
 *   "tls": "implicit",
 *   "username": "bounces",
 *   "password": "...",
 *   "pollInterval": "60s",
 *   "verp": { "prefix": "bounces", "domain": "bounce.example.com", "secret": "..." }
 * }
 * ```
 *
 * The password and the VERP secret come out as {@link Secret}s: printing the parsed config does
 * not print them.
 *
 * @module
 */
import { z } from "zod";
import { Secret } from "../../lib/secret.ts";
import { durationSchema } from "../../lib/unit_schemas.ts";

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const secret = (min: number) => z.string().min(min).transform((s) => new Secret(s));

export const verpConfigSchema = z.strictObject({
  /** Local-part prefix: `<prefix>+<id>-<tag>@<domain>`. */
  prefix: z.string().regex(/^[A-Za-z0-9._-]{1,32}$/, "must be 1-32 of A-Z a-z 0-9 . _ -")
    .default("bounces"),
  /** The bounce domain; its MX must deliver `<prefix>+*@domain` into the mailbox below. */
  domain: z.string().regex(HOSTNAME, "must be a domain name"),
  /** HMAC key for the tamper-evident tag; at least 16 characters. */
  secret: secret(16),
});

export const bounceConfigSchema = z.strictObject({
  /** POP3 server host name. */
  host: z.string().regex(HOSTNAME, "must be a host name"),
  /** POP3 port; default 995 for `implicit`, 110 otherwise. */
  port: z.number().int().min(1).max(65535).optional(),
  /** `implicit` (POP3S, RFC 8314), `starttls` (STLS, RFC 2595) or `none`. */
  tls: z.enum(["none", "starttls", "implicit"]).default("implicit"),
  username: z.string().min(1),
  password: secret(1),
  /** `user` (USER/PASS) or `apop` (RFC 1939 §7; the password never crosses the wire). */
  auth: z.enum(["user", "apop"]).default("user"),
  /** Allows USER/PASS without TLS. Off by default, and refused with `tls: "none"` unless set. */
  allowPlaintextAuth: z.boolean().default(false),
  /** Time between polls, e.g. `"60s"`; at least 1 s. Output in ms. */
  pollInterval: durationSchema(1000).default(60_000),
  /** Deadline for each POP3 command, e.g. `"30s"`. Output in ms. */
  commandTimeout: durationSchema(100).default(30_000),
  /** New messages processed per poll at most. */
  maxMessagesPerPoll: z.number().int().min(1).max(100_000).default(200),
  verp: verpConfigSchema,
}).superRefine((c, ctx) => {
  if (c.tls === "none" && c.auth === "user" && !c.allowPlaintextAuth) {
    ctx.addIssue({
      code: "custom",
      path: ["tls"],
      message: `Cannot send the password in plaintext as 'tls' is "none": use "starttls" or ` +
        `"implicit", set auth to "apop", or set allowPlaintextAuth to true`,
    });
  }
}).transform((c) => ({ ...c, port: c.port ?? (c.tls === "implicit" ? 995 : 110) }));

/** The config as written in the JSON file. */
export type BounceConfigInput = z.input<typeof bounceConfigSchema>;
/** The validated config: durations in ms, secrets wrapped, port filled in. */
export type BounceConfig = z.output<typeof bounceConfigSchema>;

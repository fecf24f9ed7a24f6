/** Shared set-up of the admin API tests: an app on a fresh database, and an authorised caller. */
import type { Hono } from "hono";
import { adminApp, type AdminDeps } from "../../../relay/admin/app.ts";
import { recordOutcomes } from "../../../db/queue.ts";
import type { Db } from "../../../db/client.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { type TestDatabase, testDatabase } from "../../_support/db.ts";
import { claimReady } from "../../_support/queue.ts";

export const TOKEN = "0123456789abcdef0123";

export interface Fixture extends AsyncDisposable {
  readonly t: TestDatabase;
  readonly db: Db;
  readonly clock: FakeClock;
  readonly app: Hono;
  /** An authorised request; `body` is sent as JSON. */
  call(method: string, path: string, body?: unknown): Promise<Response>;
}

export async function fixture(extra: Partial<AdminDeps> = {}): Promise<Fixture> {
  const t = await testDatabase();
  const clock = new FakeClock();
  const app = adminApp({ db: t.db, token: TOKEN, ready: () => ({ ready: true }), clock, ...extra });
  return {
    t,
    db: t.db,
    clock,
    app,
    call: (method, path, body) =>
      Promise.resolve(app.request(path, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        ...(body === undefined
          ? {}
          : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      })),
    [Symbol.asyncDispose]: () => t[Symbol.asyncDispose](),
  };
}

/** Claims every due delivery and records `status` for each (what an actor would do). */
export async function settleAll(
  db: Db,
  now: Date,
  status: "delivered" | "deferred" | "bounced",
  limit = 1000,
): Promise<number> {
  const deliveries = await claimReady(db, { owner: "test", now, leaseMs: 60_000, limit });
  await recordOutcomes(
    db,
    deliveries.map((d) => ({
      id: d.id,
      leaseToken: d.leaseToken,
      status,
      attempted: true,
      code: status === "delivered" ? 250 : status === "deferred" ? 451 : 550,
      reply: status === "delivered" ? "250 2.0.0 ok" : `${status} by test`,
      mxHost: "mx.test",
      tls: true,
      tlsDetail: {
        policy: "mta-sts enforce",
        reason: "MTA-STS policy id 1 of mx.test",
        tls: true,
        verified: true,
      },
      nextAttemptAt: status === "deferred" ? new Date(now.getTime() + 600_000) : null,
    })),
    { now },
  );
  return deliveries.length;
}

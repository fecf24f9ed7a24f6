/**
 * A scripted Deliverer for actor tests: each connect() and each send() asks the test's script
 * what happens, and the fake records what the actor did (connections open at once, recipients
 * per transaction).
 */
import type {
  ConnectResult,
  Deliverer,
  Delivery,
  FailureResult,
  RecipientResult,
  Session,
} from "../../actors/ports.ts";

export interface Script {
  connect?: (n: number) => FailureResult | undefined;
  send?: (
    outboxId: number,
    recipients: readonly Delivery[],
  ) => RecipientResult[] | Promise<RecipientResult[]>;
}

export const ok = (): RecipientResult => ({
  kind: "delivered",
  code: 250,
  reply: "250 2.0.0 Ok: queued",
});

export class FakeDeliverer implements Deliverer {
  connects = 0;
  open = 0;
  maxOpen = 0;
  readonly transactions: { outboxId: number; recipients: string[] }[] = [];

  constructor(readonly script: Script = {}) {}

  connect(_destination: string, _signal: AbortSignal): Promise<ConnectResult> {
    const n = ++this.connects;
    const failure = this.script.connect?.(n);
    if (failure) {
      return Promise.resolve({ kind: "failed", result: failure, mxHost: "mx.fake.test" });
    }
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    // deno-lint-ignore no-this-alias -- the session object's getters need the deliverer
    const fake = this;
    let usable = true;
    let closed = false;
    const session: Session = {
      mxHost: "mx.fake.test",
      tls: true,
      get usable() {
        return usable && !closed;
      },
      async send(outboxId, recipients, signal) {
        fake.transactions.push({ outboxId, recipients: recipients.map((r) => r.recipient) });
        // Like a real session: an abort ends the transaction with a connection-level failure.
        const aborted = new Promise<RecipientResult[]>((resolve) => {
          const fail = () =>
            resolve(recipients.map(() => ({
              kind: "transient" as const,
              scope: "connection" as const,
              code: null,
              reply: "transaction aborted",
            })));
          if (signal.aborted) fail();
          else signal.addEventListener("abort", fail, { once: true });
        });
        const results = await Promise.race([
          Promise.resolve(fake.script.send?.(outboxId, recipients) ?? recipients.map(ok)),
          aborted,
        ]);
        if (
          results.some((r) =>
            r.kind !== "delivered" && (r.scope === "connection" || r.code === 421)
          )
        ) {
          usable = false;
        }
        return results;
      },
      close() {
        if (!closed) {
          closed = true;
          fake.open--;
        }
        return Promise.resolve();
      },
    };
    return Promise.resolve({ kind: "connected", session });
  }
}

/** Yields to the event loop until `cond` holds (bounded; no time passes on any clock). */
export async function until(cond: () => boolean, what = "condition", turns = 5000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 0));
  }
  throw new Error(`Cannot wait for ${what} as it never became true`);
}

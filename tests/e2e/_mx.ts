/**
 * A destination with several MX hosts for end-to-end tests, each behaving as a test asks:
 * accepting, refusing the connection, greeting with 421 or 554, never greeting, never completing
 * the TCP connect, or answering every RCPT with a 4xx. The MX records and the hosts' addresses
 * (127.0.0.11, .12, ...) come from a FakeResolver; the relay's TCP connect is a connector that
 * takes each address to its host's scripted peer on a free loopback port (or to a closed one),
 * logging who was tried when on the relay's fake clock.
 *
 * @module
 */
import { denoConnect } from "../../relay/smtp/mod.ts";
import type { Connector } from "../../relay/smtp/mod.ts";
import { FakeResolver } from "../_fakes/fake_resolver.ts";
import { esmtp, type ScriptedPeer, startScriptedPeer } from "../_fakes/scripted_smtp_peer.ts";
import { freePort } from "../_support/postgres_cluster.ts";

export type MxBehaviour =
  | "accepts"
  /** Nothing listens: the connect is refused at once. */
  | "refuses"
  | "greets 421"
  | "greets 554"
  /** Accepts the TCP connection and never says a word. */
  | "never greets"
  /** The TCP connect never completes (a host that drops SYNs). */
  | "never connects"
  /** A session, but every RCPT gets a 4xx that is not a throttle. */
  | "tempfails RCPT";

export interface MxHost {
  readonly name: string;
  readonly address: string;
  readonly behaviour: MxBehaviour;
}

export interface MxFarm extends AsyncDisposable {
  readonly hosts: readonly MxHost[];
  readonly resolver: FakeResolver;
  readonly connect: Connector;
  /** Every connect the relay began, in order, with the fake time. */
  readonly tries: { readonly host: string; readonly at: number }[];
  /** Every message a host accepted, with the fake time of its final reply. */
  readonly accepted: { readonly host: string; readonly at: number }[];
  /** Connections waiting on fake time by design (for IoTracker.park). */
  parked(): number;
  /** The relay's clock, once it exists. */
  clock: () => number;
}

/** Hosts `mx1.<domain>`, `mx2.<domain>`... at preferences 10, 20... behaving as listed. */
export function mxFarm(domain: string, behaviours: readonly MxBehaviour[]): MxFarm {
  const hosts = behaviours.map((behaviour, i): MxHost => ({
    name: `mx${i + 1}.${domain}`,
    address: `127.0.0.${11 + i}`,
    behaviour,
  }));
  const resolver = new FakeResolver({
    [domain]: { mx: hosts.map((h, i) => ({ preference: 10 * (i + 1), exchange: h.name })) },
  });
  for (const h of hosts) resolver.set(h.name, { a: [h.address] });
  const tries: { host: string; at: number }[] = [];
  const accepted: { host: string; at: number }[] = [];
  let parked = 0;
  const peers = new Map<string, ScriptedPeer>();
  const closed = freePort();
  const farm: MxFarm = {
    hosts,
    resolver,
    tries,
    accepted,
    parked: () => parked,
    clock: () => 0,
    connect: (address, port, signal) => {
      const host = hosts.find((h) => h.address === address);
      if (!host) throw new Error(`Cannot connect to ${address}:${port} as no test host has it`);
      tries.push({ host: host.name, at: farm.clock() });
      if (host.behaviour === "refuses") return denoConnect("127.0.0.1", closed, signal);
      if (host.behaviour === "never connects") {
        parked++;
        return new Promise((_, reject) => {
          signal.addEventListener("abort", () => {
            parked--;
            reject(signal.reason);
          }, { once: true });
        });
      }
      return denoConnect("127.0.0.1", peers.get(host.name)!.port, signal);
    },
    async [Symbol.asyncDispose]() {
      for (const peer of peers.values()) await peer.close();
    },
  };
  for (const h of hosts) {
    const onMessage = () => accepted.push({ host: h.name, at: farm.clock() });
    switch (h.behaviour) {
      case "accepts":
        peers.set(h.name, startScriptedPeer(esmtp({ onMessage })));
        break;
      case "greets 421":
        peers.set(
          h.name,
          startScriptedPeer(esmtp({ greeting: `421 4.3.2 ${h.name} Service not available` })),
        );
        break;
      case "greets 554":
        peers.set(
          h.name,
          startScriptedPeer(esmtp({ greeting: `554 5.7.1 ${h.name} No SMTP service here` })),
        );
        break;
      case "never greets":
        peers.set(
          h.name,
          startScriptedPeer(async (link) => {
            parked++;
            try {
              await link.readLine(); // null once the relay gives up and hangs up
            } finally {
              parked--;
            }
          }),
        );
        break;
      case "tempfails RCPT":
        peers.set(
          h.name,
          startScriptedPeer(esmtp({
            rcpt: "451 4.3.0 Temporary lookup failure",
            // As Postfix answers a pipelined DATA after every RCPT failed (RFC 2920 §3.1).
            data: "554 5.5.1 Error: no valid recipients",
          })),
        );
        break;
      case "refuses":
      case "never connects":
        break;
    }
  }
  return farm;
}

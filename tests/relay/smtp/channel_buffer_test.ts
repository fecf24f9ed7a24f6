/**
 * The channel's read buffer starts small and grows: replies longer than its first size, and many
 * lines sent at once, still arrive whole.
 */
import assert from "node:assert/strict";
import { connectSmtp } from "../../../relay/smtp/mod.ts";
import { startScriptedPeer } from "../../_fakes/scripted_smtp_peer.ts";
import { testOptions } from "./_helpers.ts";

Deno.test("connectSmtp() reads a greeting of long lines sent in one write", async () => {
  // Three lines of 4,000 characters (under the 4,096 a reply line may have), one write.
  const long = "x".repeat(4_000);
  await using peer = startScriptedPeer(async (link) => {
    await link.send(`220-${long}\r\n220-${long}\r\n220 ${long}\r\n`);
    for (let line = await link.readLine(); line !== null; line = await link.readLine()) {
      if (/^EHLO/i.test(line)) await link.send(`250-peer.test\r\n250-${long}\r\n250 8BITMIME\r\n`);
      else if (/^QUIT/i.test(line)) await link.send("221 bye\r\n");
    }
  });
  const opened = await connectSmtp("127.0.0.1", peer.port, testOptions());
  assert.equal(opened.kind, "ready", JSON.stringify(opened));
  if (opened.kind === "ready") await opened.session.quit();
});

import assert from "node:assert/strict";
import { loadSystemNameServers, parseResolvConf } from "../../../relay/dns/system_name_servers.ts";

Deno.test("parseResolvConf() keeps nameserver lines with IP addresses, in order", () => {
  const text = [
    "# generated",
    "search example.com",
    "nameserver 192.0.2.53",
    "nameserver   2001:db8::53  # v6",
    "nameserver not-an-ip",
    "; nameserver 10.0.0.1",
    "options edns0",
  ].join("\n");
  assert.deepEqual(parseResolvConf(text), [
    { ipAddr: "192.0.2.53", port: 53 },
    { ipAddr: "2001:db8::53", port: 53 },
  ]);
});

Deno.test("loadSystemNameServers() falls back to 127.0.0.1 when the file is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await loadSystemNameServers(`${dir}/resolv.conf`), [
      { ipAddr: "127.0.0.1", port: 53 },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

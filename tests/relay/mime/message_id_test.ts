import assert from "node:assert/strict";
import { boundaryFor, messageIdFor } from "../../../relay/mime/message_id.ts";

const T = Date.UTC(2026, 0, 1);

Deno.test("messageIdFor() is stable for a row and differs between rows, times and domains", () => {
  const id = messageIdFor(7n, T, "Relay.Example");
  assert.match(id, /^<ferry\.7\.[0-9a-f]{16}@relay\.example>$/);
  assert.equal(messageIdFor("7", T, "relay.example"), id);
  assert.equal(messageIdFor(7, T, "relay.example"), id);
  assert.notEqual(messageIdFor(8, T, "relay.example"), id);
  assert.notEqual(messageIdFor(7, T + 1, "relay.example"), id, "a recreated database");
  assert.notEqual(messageIdFor(7, T, "other.example"), id);
});

Deno.test("messageIdFor() refuses an id or domain that cannot appear in a msg-id", () => {
  assert.throws(() => messageIdFor("7 8", T, "relay.example"), /'outboxId' must be 1-64 letters/);
  assert.throws(() => messageIdFor(7, T, "relay example"), /'domain' must be a DNS name/);
  assert.throws(() => messageIdFor(7, T, "a@b.example"), /'domain' must be a DNS name/);
});

Deno.test("boundaryFor() is stable and independent of the Message-ID hash", () => {
  assert.equal(boundaryFor(7, T, "relay.example"), boundaryFor(7n, T, "relay.example"));
  assert.match(boundaryFor(7, T, "relay.example"), /^[0-9a-f]{16}$/);
  assert.ok(!messageIdFor(7, T, "relay.example").includes(boundaryFor(7, T, "relay.example")));
});

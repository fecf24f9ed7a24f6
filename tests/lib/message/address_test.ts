import assert from "node:assert/strict";
import fc from "fast-check";
import { parseMailbox, toALabel } from "../../../lib/message/address.ts";

Deno.test("parseMailbox() refuses what is not exactly one mailbox, quoting the element", () => {
  const refused: [string, RegExp][] = [
    ["a b@v1.test", /white space inside the address \(a display name needs <address>\)/],
    ["alice@example.com bob@evil.test", /white space inside the address/],
    ["a@x.org, b@y.org", /"," is not allowed outside quotes \(one address per element\)/],
    ["a@x.org,b@y.org", /one address per element/],
    ["<a@x.test> b@y.test", /text after the closing ">"/],
    ['"unbalanced@x.test', /quoted string is not closed/],
    ['"a"b"@x.test', /quoted string is not closed|local part/],
    ["<a@x.test", /unbalanced angle brackets/],
    ["a@x.test>", /unbalanced angle brackets/],
    ["Name <a@x.test> <b@y.test>", /text after the closing ">"/],
    ["a@@x.test", /local part has a character not allowed unquoted/],
    ["a@x..y", /empty label/],
    ["a@-x.test", /invalid label/],
    ["<>", /the address is empty/],
    [`${"l".repeat(65)}@x.test`, /local part is longer than 64 octets/],
    ["a\r\nBcc: v@evil.test", /control character/],
    ["a\u0000b@x.test", /control character/],
    ["Joe (comment) <j@x.test>", /comments are not accepted/],
    ["bob@evil.test <alice@example.com>", /"@" in the display name/],
    ["a@x", /has no dot/],
    ["", /empty/],
    ["@x.test", /form local@domain/],
    ["a@", /form local@domain/],
    [".a@x.test", /empty dot-atom/],
  ];
  for (const [input, reason] of refused) {
    const r = parseMailbox(input);
    assert.equal(r.ok, false, `${JSON.stringify(input)} was accepted: ${JSON.stringify(r)}`);
    if (!r.ok) {
      assert.match(r.reason, reason, input);
      // deno-lint-ignore no-control-regex -- elements with control characters are not echoed
      if (input.trim() !== "" && !/[\u0000-\u001f]/.test(input)) {
        assert.ok(
          r.reason.includes(JSON.stringify(input).slice(0, 40)),
          `quotes ${input}: ${r.reason}`,
        );
      }
    }
  }
});

Deno.test("parseMailbox() keeps the forms people use, with exactly the address they wrote", () => {
  const accepted: [string, string, string][] = [
    ["ada@example.org", "ada@example.org", ""],
    ["Ada Lovelace <ada@example.org>", "ada@example.org", "Ada Lovelace"],
    ['"Doe, John" <j@x.org>', "j@x.org", "Doe, John"],
    ['"a b"@example.org', '"a b"@example.org', ""],
    ["user+tag@mail.sub.example.org", "user+tag@mail.sub.example.org", ""],
    ["John Q. Public <jqp@x.test>", "jqp@x.test", "John Q. Public"],
    ["  <spaced@x.test>  ", "spaced@x.test", ""],
    ["Zoë <zoe@bücher.test>", "zoe@xn--bcher-kva.test", "Zoë"],
    ["jöhn@example.test", "jöhn@example.test", ""],
    ["Mixed@Example.ORG", "Mixed@example.org", ""],
    ['"quoted \\" name" <q@x.test>', "q@x.test", 'quoted " name'],
  ];
  for (const [input, address, name] of accepted) {
    const r = parseMailbox(input);
    assert.ok(r.ok, `${input}: ${!r.ok ? r.reason : ""}`);
    if (r.ok) {
      assert.equal(r.mailbox.address, address, input);
      assert.equal(r.mailbox.name, name, input);
    }
  }
  const utf8 = parseMailbox("jöhn@example.test");
  assert.ok(utf8.ok && utf8.mailbox.smtputf8, "a UTF-8 local part needs SMTPUTF8");
});

/** The addr-spec texts an input could be read as holding: all of it, or a <...> that ends it. */
function specsIn(input: string): string[] {
  const out = [input.trim()];
  const close = input.lastIndexOf(">");
  for (
    let open = input.indexOf("<");
    open >= 0 && open < close;
    open = input.indexOf("<", open + 1)
  ) {
    out.push(input.slice(open + 1, close));
  }
  return out;
}

function holdsExactly(input: string, local: string, domain: string): boolean {
  return specsIn(input).some((spec) => {
    const at = spec.lastIndexOf("@");
    if (at < 0 || spec.slice(0, at) !== local) return false;
    const d = toALabel(spec.slice(at + 1));
    return d.ok && d.value === domain;
  });
}

const atext = fc.constantFrom(..."abcxyzABC0189!#$%&'*+-/=?^_`{|}~".split(""));
const atom = fc.string({ unit: atext, minLength: 1, maxLength: 8 });
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const domain = fc.array(label, { minLength: 2, maxLength: 4 }).map((l) => l.join("."));
const local = fc.oneof(
  fc.array(atom, { minLength: 1, maxLength: 3 }).map((a) => a.join(".")),
  fc.string({ unit: fc.constantFrom(..." ab,<>@.".split("")), minLength: 1, maxLength: 8 })
    .map((s) => `"${s}"`),
);
const displayName = fc.oneof(
  fc.array(atom, { minLength: 1, maxLength: 3 }).map((a) => a.join(" ")),
  fc.string({ unit: fc.constantFrom(..." a,<>@b.".split("")), maxLength: 10 }).map((s) => `"${s}"`),
);
const wellFormed = fc.oneof(
  fc.tuple(local, domain).map(([l, d]) => `${l}@${d}`),
  fc.tuple(displayName, local, domain).map(([n, l, d]) => `${n} <${l}@${d}>`),
);
const noise = fc.string({
  unit: fc.constantFrom(..." \t,;<>\"'@.()[]\\:abcxy01-+=".split(""), "\r", "\n", "é"),
  maxLength: 40,
});
const adversarial = fc.oneof(
  noise,
  fc.tuple(wellFormed, noise).map(([a, b]) => a + b),
  fc.tuple(noise, wellFormed).map(([a, b]) => a + b),
  fc.tuple(wellFormed, fc.constantFrom(" ", ", ", ",", " <", "> "), wellFormed)
    .map(([a, s, b]) => a + s + b),
);

Deno.test("parseMailbox() accepts only an input whose addr-spec is exactly the envelope address", () => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.oneof(wellFormed, adversarial), (input) => {
      const r = parseMailbox(input);
      if (!r.ok) return;
      accepted++;
      assert.ok(
        holdsExactly(input, r.mailbox.local, r.mailbox.domain),
        `${JSON.stringify(input)} gave ${r.mailbox.address}`,
      );
      // No recipient whose text the input does not contain.
      assert.ok(input.includes(`${r.mailbox.local}@`), `${JSON.stringify(input)}`);
    }),
    { numRuns: 5000, seed: 20261204 },
  );
  assert.ok(accepted > 500, `only ${accepted} inputs accepted: the generator tests too little`);
});

Deno.test("parseMailbox() accepts every well-formed mailbox it is given", () => {
  fc.assert(
    fc.property(wellFormed, (input) => {
      const r = parseMailbox(input);
      assert.ok(r.ok, `${JSON.stringify(input)}: ${!r.ok ? r.reason : ""}`);
    }),
    { numRuns: 2000, seed: 7 },
  );
});

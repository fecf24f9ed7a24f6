/**
 * A credential that refuses to be printed: `String()`, `JSON.stringify()` and Deno's or Node's
 * inspection all show `[redacted]`, so logging a whole config object cannot leak it.
 *
 * @module
 */

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself, for the one place that must send or use it. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return "[redacted]";
  }

  toJSON(): string {
    return "[redacted]";
  }

  [Symbol.for("Deno.customInspect")](): string {
    return "Secret([redacted])";
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "Secret([redacted])";
  }
}

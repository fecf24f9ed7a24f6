/**
 * The one error configuration loading throws: every problem names the variable or key it
 * concerns, so the operator knows where to look.
 *
 * @module
 */

/** A bad configuration value; `key` names the variable or JSON path. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly key: string, readonly problem: string, options?: ErrorOptions) {
    super(`Invalid configuration ${key}: ${problem}`, options);
  }
}

/**
 * A resource the relay cannot start without (the admin listener, the data directory, the config
 * file): reported as one line naming the setting, exit code 1, no stack trace.
 *
 * @module
 */
export class StartupError extends Error {
  override readonly name = "StartupError";
  constructor(readonly setting: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

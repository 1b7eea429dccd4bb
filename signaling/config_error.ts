/**
 * The error a bad configuration value stops the process with.
 *
 * @module
 */

/** A configuration value that cannot be used, named for the person fixing it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

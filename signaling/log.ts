/**
 * Structured logs: one JSON object per line on stderr. Callers pass fields,
 * never tokens, SDP, candidates or IP addresses.
 *
 * @module
 */

/** Log levels, most verbose first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** A logger that writes one line per event. */
export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. @default {"info"} */
  level?: LogLevel;
  /** Where lines go. @default {console.error} */
  write?: (line: string) => void;
  /** The clock. @default {Date.now} */
  now?: () => number;
}

/** Creates a JSON-lines logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? "info"];
  const write = options.write ?? ((line) => console.error(line));
  const now = options.now ?? Date.now;
  const at =
    (level: LogLevel) => (event: string, fields?: Record<string, unknown>) => {
      if (RANK[level] < min) return;
      write(JSON.stringify({
        time: new Date(now()).toISOString(),
        level,
        event,
        ...fields,
      }));
    };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
  };
}

/** A logger that drops everything, for tests. */
export const SILENT_LOGGER: Logger = createLogger({ write: () => {} });

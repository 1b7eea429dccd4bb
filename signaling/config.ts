/**
 * Configuration from environment variables and command-line flags.
 *
 * Every option has one environment variable and one flag of the same name
 * (`DATABASE_URL` and `--database-url`); a flag wins over the variable.
 * Values that users type carry their unit (`30s`, `64KiB`). Everything is
 * validated at start, and a bad value stops the process with a message that
 * names the option.
 *
 * @module
 */
import { ConfigError } from "./config_error.ts";
import { checkIceConfig } from "./ice_servers.ts";

export { ConfigError } from "./config_error.ts";

/** How an option's text is read. */
type Kind =
  | "port"
  | "text"
  | "optional"
  | "int"
  | "duration"
  | "durationSec"
  | "bytes"
  | "bool"
  | "list";

/** The value each kind of option reads into. */
interface KindValue {
  port: number;
  text: string;
  optional: string;
  int: number;
  /** Milliseconds. */
  duration: number;
  /** Whole seconds, at least one. */
  durationSec: number;
  bytes: number;
  bool: boolean;
  list: string[];
}

/** One configuration option, as `--help` and the README list it. */
export interface OptionSpec {
  /** Its name in {@linkcode Config}, with the unit of its value. */
  key: string;
  env: string;
  kind: Kind;
  default: string;
  help: string;
  min?: number;
  max?: number;
}

/** Every option, in the order `--help` prints them. */
export const OPTIONS = [
  {
    key: "port",
    env: "PORT",
    kind: "port",
    default: "8080",
    help: "TCP port to listen on; 0 picks a free one",
  },
  {
    key: "host",
    env: "HOST",
    kind: "text",
    default: "0.0.0.0",
    help: "address to listen on",
  },
  {
    key: "databaseUrl",
    env: "DATABASE_URL",
    kind: "text",
    default: "file:data/parley.db",
    help: "SQLite database: file:PATH, file:///ABSOLUTE/PATH or :memory:",
  },
  {
    key: "redisUrl",
    env: "REDIS_URL",
    kind: "optional",
    default: "",
    help:
      "redis://HOST:PORT to share rooms with other instances; empty: SQLite",
  },
  {
    key: "redisSentinels",
    env: "REDIS_SENTINELS",
    kind: "list",
    default: "",
    help:
      "HOST:PORT,... of Redis Sentinels that name the primary (instead of REDIS_URL)",
  },
  {
    key: "redisMasterName",
    env: "REDIS_MASTER_NAME",
    kind: "text",
    default: "parley",
    help: "with REDIS_SENTINELS: the name the sentinels monitor the primary by",
  },
  {
    key: "instanceTtlMs",
    env: "INSTANCE_TTL",
    kind: "duration",
    default: "10s",
    help: "with Redis: an instance silent this long is dead and its peers away",
  },
  {
    key: "maxRoomSize",
    env: "MAX_ROOM_SIZE",
    kind: "int",
    default: "8",
    min: 2,
    max: 64,
    help: "peers per room (a full mesh: keep it small)",
  },
  {
    key: "roomTtlMs",
    env: "ROOM_TTL",
    kind: "duration",
    default: "5m",
    help: "how long an empty room is kept",
  },
  {
    key: "resumeGraceMs",
    env: "RESUME_GRACE",
    kind: "duration",
    default: "30s",
    help: "how long a dropped peer may come back with its token",
  },
  {
    key: "unloadGraceMs",
    env: "UNLOAD_GRACE",
    kind: "duration",
    default: "5s",
    help: "how long a page that left on unload may come back (a reload)",
  },
  {
    key: "allowedOrigins",
    env: "ALLOWED_ORIGINS",
    kind: "list",
    default: "",
    help:
      "comma-separated page origins (https://host[:port]) allowed to open /ws; empty: same host",
  },
  {
    key: "enableCors",
    env: "ENABLE_CORS",
    kind: "bool",
    default: "false",
    help: "allow any origin (local development only)",
  },
  {
    key: "debug",
    env: "DEBUG",
    kind: "bool",
    default: "false",
    help: "log signaling detail",
  },
  {
    key: "maxMessageBytes",
    env: "MAX_MESSAGE_SIZE",
    kind: "bytes",
    default: "64KiB",
    min: 1024,
    max: 1024 * 1024,
    help: "largest inbound frame; larger closes the socket",
  },
  {
    key: "joinTimeoutMs",
    env: "JOIN_TIMEOUT",
    kind: "duration",
    default: "10s",
    help: "a socket that sends no join by then is closed",
  },
  {
    key: "knockTimeoutMs",
    env: "KNOCK_TIMEOUT",
    kind: "duration",
    default: "60s",
    help: "a knock on a locked room that the host does not answer is refused",
  },
  {
    key: "maxKnocks",
    env: "MAX_KNOCKS",
    kind: "int",
    default: "5",
    min: 1,
    max: 1_000,
    help:
      "knocks waiting on one room at once (all instances); more are refused",
  },
  {
    key: "roomKnockRate",
    env: "ROOM_KNOCK_RATE",
    kind: "int",
    default: "10",
    min: 1,
    max: 1_000_000,
    help:
      "knocks per minute on one room, all instances together (burst: the same)",
  },
  {
    key: "idleTimeoutSec",
    env: "IDLE_TIMEOUT",
    kind: "durationSec",
    default: "60s",
    help: "WebSocket ping interval; a socket silent for it is dead",
  },
  {
    key: "errorBudget",
    env: "ERROR_BUDGET",
    kind: "int",
    default: "16",
    min: 1,
    max: 1_000_000,
    help: "protocol errors a socket may cause before it is closed",
  },
  {
    key: "queueLimit",
    env: "QUEUE_LIMIT",
    kind: "int",
    default: "256",
    min: 1,
    max: 100_000,
    help: "messages kept for an away peer",
  },
  {
    key: "sweepIntervalMs",
    env: "SWEEP_INTERVAL",
    kind: "duration",
    default: "1s",
    help: "how often expired peers and rooms are removed",
  },
  {
    key: "sweepBatch",
    env: "SWEEP_BATCH",
    kind: "int",
    default: "200",
    min: 1,
    max: 100_000,
    help: "most rows one sweep step removes",
  },
  {
    key: "pingIntervalMs",
    env: "PING_INTERVAL",
    kind: "duration",
    default: "20s",
    help: "how often clients are told to send ping",
  },
  {
    key: "stunUrls",
    env: "STUN_URLS",
    kind: "list",
    default: "stun:stun.l.google.com:19302",
    help: "comma-separated STUN URLs for clients; empty: none",
  },
  {
    key: "turnUrls",
    env: "TURN_URLS",
    kind: "list",
    default: "",
    help:
      "comma-separated turn: or turns: URLs; needs TURN_SECRET or TURN_USERNAME",
  },
  {
    key: "turnSecret",
    env: "TURN_SECRET",
    kind: "optional",
    default: "",
    help: "coturn use-auth-secret shared secret: mints short-lived credentials",
  },
  {
    key: "turnTtlMs",
    env: "TURN_TTL",
    kind: "duration",
    default: "1h",
    help: "lifetime of minted TURN credentials",
  },
  {
    key: "turnUsername",
    env: "TURN_USERNAME",
    kind: "optional",
    default: "",
    help: "static TURN username (instead of TURN_SECRET)",
  },
  {
    key: "turnCredential",
    env: "TURN_CREDENTIAL",
    kind: "optional",
    default: "",
    help: "static TURN password (instead of TURN_SECRET)",
  },
  {
    key: "iceServersJson",
    env: "ICE_SERVERS",
    kind: "optional",
    default: "",
    help: "full RTCIceServer[] JSON; replaces STUN_URLS and TURN_*",
  },
  {
    key: "maxConnections",
    env: "MAX_CONNECTIONS",
    kind: "int",
    default: "16000",
    min: 1,
    max: 1_000_000,
    help: "open WebSockets per instance; more get 503",
  },
  {
    key: "maxConnectionsPerIp",
    env: "MAX_CONNECTIONS_PER_IP",
    kind: "int",
    default: "20",
    min: 1,
    max: 1_000_000,
    help: "open WebSockets per client address; more get 429",
  },
  {
    key: "handshakeRate",
    env: "HANDSHAKE_RATE",
    kind: "int",
    default: "10",
    min: 1,
    max: 1_000_000,
    help: "WebSocket handshakes per second per client address (burst: twice)",
  },
  {
    key: "joinRate",
    env: "JOIN_RATE",
    kind: "int",
    default: "5",
    min: 1,
    max: 1_000_000,
    help: "join attempts per second per client address (burst: twice)",
  },
  {
    key: "knockRate",
    env: "KNOCK_RATE",
    kind: "int",
    default: "5",
    min: 1,
    max: 1_000_000,
    help: "knocks per minute per client address (burst: the same)",
  },
  {
    key: "messageRate",
    env: "MESSAGE_RATE",
    kind: "int",
    default: "50",
    min: 1,
    max: 1_000_000,
    help: "messages per second per socket, sustained",
  },
  {
    key: "messageBurst",
    env: "MESSAGE_BURST",
    kind: "int",
    default: "200",
    min: 1,
    max: 1_000_000,
    help: "messages a socket may send at once (an ICE trickle fits)",
  },
  {
    key: "candidateBurst",
    env: "CANDIDATE_BURST",
    kind: "int",
    default: "100",
    min: 1,
    max: 1_000_000,
    help:
      "ICE candidates a peer may send at once (refilled at a tenth per second)",
  },
  {
    key: "maxSdpBytes",
    env: "MAX_SDP_SIZE",
    kind: "bytes",
    default: "32KiB",
    min: 256,
    max: 1024 * 1024,
    help: "largest SDP in a signal's data.description.sdp",
  },
  {
    key: "maxCandidateBytes",
    env: "MAX_CANDIDATE_SIZE",
    kind: "bytes",
    default: "1KiB",
    min: 64,
    max: 1024 * 1024,
    help: "largest ICE candidate in a signal's data.candidate.candidate",
  },
  {
    key: "maxBufferedBytes",
    env: "MAX_BUFFERED",
    kind: "bytes",
    default: "1MiB",
    min: 1024,
    max: 1024 * 1024 * 1024,
    help:
      "send buffer of a socket; a client that reads slower is closed (4002)",
  },
  {
    key: "maxMemoryBytes",
    env: "MAX_MEMORY",
    kind: "bytes",
    default: "2GiB",
    min: 16 * 1024 * 1024,
    max: 1024 * 1024 * 1024 * 1024,
    help: "process memory (RSS) above which new sockets get 503",
  },
  {
    key: "trustedProxies",
    env: "TRUSTED_PROXIES",
    kind: "list",
    default: "",
    help: "proxy addresses whose X-Forwarded-For names the client",
  },
  {
    key: "exemptIps",
    env: "EXEMPT_IPS",
    kind: "list",
    default: "",
    help: "client addresses no per-address limit applies to (load tests)",
  },
  {
    key: "allowNoOrigin",
    env: "ALLOW_NO_ORIGIN",
    kind: "bool",
    default: "true",
    help: "accept WebSockets without an Origin header (non-browser clients)",
  },
  {
    key: "metricsToken",
    env: "METRICS_TOKEN",
    kind: "optional",
    default: "",
    help: "bearer token /metrics asks for; empty: /metrics is open",
  },
] as const satisfies readonly OptionSpec[];

type Option = (typeof OPTIONS)[number];

/** Parley's validated configuration: one field per option of the table. */
export type Config = {
  -readonly [O in Option as O["key"]]: KindValue[O["kind"]];
};

/** What {@linkcode parseArgs} found besides option values. */
export interface ParsedArgs {
  config: Config;
  help: boolean;
  version: boolean;
}

/**
 * Reads the configuration from `env` and command-line `args`, or throws a
 * {@linkcode ConfigError} naming the bad option.
 */
export function parseArgs(
  env: Record<string, string | undefined>,
  args: readonly string[] = [],
): ParsedArgs {
  const raw = new Map<Option, string>();
  for (const spec of OPTIONS) {
    const value = env[spec.env];
    if (value !== undefined) raw.set(spec, value);
  }
  let help = false;
  let version = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (arg === "--version" || arg === "-V") {
      version = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const spec = OPTIONS.find((o: OptionSpec) => flagName(o) === flag);
    if (!spec) throw new ConfigError(`Unknown option ${flag} (see --help)`);
    if (eq !== -1) {
      raw.set(spec, arg.slice(eq + 1));
    } else if (spec.kind === "bool") {
      raw.set(spec, "true");
    } else if (i + 1 < args.length) {
      raw.set(spec, args[++i]);
    } else {
      throw new ConfigError(`Option ${flag} needs a value`);
    }
  }
  const values: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    values[spec.key] = parseValue(spec, raw.get(spec) ?? spec.default);
  }
  // Each value was read by its spec's kind, as the Config type says.
  const config = values as Config;
  checkOrigins(config.allowedOrigins);
  checkRedisUrl(config.redisUrl);
  checkSentinels(config);
  checkIceConfig(config);
  return { config, help, version };
}

/** Reads the configuration from environment variables only. */
export function parseConfig(
  env: Record<string, string | undefined>,
): Config {
  return parseArgs(env).config;
}

/** The flag that sets an option: `DATABASE_URL` is `--database-url`. */
export function flagName(spec: OptionSpec): string {
  return `--${spec.env.toLowerCase().replaceAll("_", "-")}`;
}

/** The `--help` text. */
export function helpText(): string {
  const lines = [
    "Usage: parley [options]",
    "",
    "Every option is also an environment variable (--database-url is DATABASE_URL).",
    "",
  ];
  for (const spec of OPTIONS) {
    const value = spec.kind === "bool" ? "" : " <value>";
    lines.push(`  ${flagName(spec)}${value}`);
    lines.push(`      ${spec.help} (default: ${spec.default || "empty"})`);
  }
  lines.push("  --help      print this text");
  lines.push("  --version   print the version");
  return lines.join("\n");
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const BYTES = /^(\d+)(B|KiB|MiB|GiB)?$/;
const BYTE_UNITS = {
  B: 1,
  KiB: 1024,
  MiB: 1024 * 1024,
  GiB: 1024 * 1024 * 1024,
} as const;

/** Parses `30s`, `5m`, `1h` or `250ms` into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const unit = match[2] as keyof typeof DURATION_MS;
  return Math.round(Number(match[1]) * DURATION_MS[unit]);
}

function parseValue(spec: OptionSpec, text: string): unknown {
  const name = `${spec.env} (${flagName(spec)})`;
  const bad = (expected: string) =>
    new ConfigError(`Invalid ${name}: "${text}" is not ${expected}`);
  switch (spec.kind) {
    case "text":
      if (text.trim() === "") throw bad("a non-empty value");
      return text.trim();
    case "optional":
      return text.trim();
    case "port": {
      const port = Number(text);
      if (!/^\d+$/.test(text) || port > 65535) {
        throw bad("a port number from 0 to 65535");
      }
      return port;
    }
    case "int": {
      const n = Number(text);
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (!/^\d+$/.test(text) || n < min || n > max) {
        throw bad(`a whole number from ${min} to ${max}`);
      }
      return n;
    }
    case "duration":
    case "durationSec": {
      const ms = parseDuration(text);
      if (ms === undefined || ms <= 0) {
        throw bad("a duration with a unit, like 30s, 5m, 1h or 250ms");
      }
      return spec.kind === "durationSec"
        ? Math.max(1, Math.round(ms / 1000))
        : ms;
    }
    case "bytes": {
      const match = BYTES.exec(text.trim());
      const n = match
        ? Number(match[1]) *
          BYTE_UNITS[(match[2] ?? "B") as keyof typeof BYTE_UNITS]
        : NaN;
      const min = spec.min ?? 0;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      if (!(n >= min && n <= max)) {
        throw bad(`a size from ${min} to ${max} bytes, like 64KiB`);
      }
      return n;
    }
    case "bool": {
      const lower = text.trim().toLowerCase();
      if (["true", "1", "yes", "on"].includes(lower)) return true;
      if (["false", "0", "no", "off", ""].includes(lower)) return false;
      throw bad("true or false");
    }
    case "list":
      return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  }
}

/**
 * Checks each `ALLOWED_ORIGINS` entry is an http(s) origin. An entry without
 * a scheme would never match a browser's `Origin` header, so every page would
 * get 403 with nothing said at start.
 */
function checkOrigins(origins: readonly string[]): void {
  for (const entry of origins) {
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      url = undefined;
    }
    if (url?.protocol !== "http:" && url?.protocol !== "https:") {
      throw new ConfigError(
        `Invalid ALLOWED_ORIGINS (--allowed-origins): "${entry}" is not an origin like https://example.com`,
      );
    }
  }
}

/** Checks `REDIS_URL` names a Redis server, when it is set. */
function checkRedisUrl(url: string): void {
  if (url !== "" && !/^rediss?:\/\//.test(url)) {
    throw new ConfigError(
      "Invalid REDIS_URL (--redis-url): it must start with redis:// or rediss://",
    );
  }
}

/** Checks `REDIS_SENTINELS` and `REDIS_MASTER_NAME`, when sentinels are set. */
function checkSentinels(config: Config): void {
  if (config.redisSentinels.length === 0) return;
  if (config.redisUrl !== "") {
    throw new ConfigError(
      "Set REDIS_URL or REDIS_SENTINELS, not both: with sentinels, they name the primary",
    );
  }
  for (const entry of config.redisSentinels) {
    if (parseHostPort(entry) === undefined) {
      throw new ConfigError(
        `Invalid REDIS_SENTINELS entry "${entry}" (--redis-sentinels): expected HOST:PORT with a port from 1 to 65535`,
      );
    }
  }
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(config.redisMasterName)) {
    throw new ConfigError(
      "Invalid REDIS_MASTER_NAME (--redis-master-name): 1–64 letters, digits, '.', '_' or '-'",
    );
  }
}

/**
 * `host:port` (or `[v6]:port`) as a host and a port from 1 to 65535, or
 * undefined if it is not one.
 */
export function parseHostPort(
  entry: string,
): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(
    entry.trim(),
  );
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1] ?? match[2], port };
}

/**
 * Turns a `DATABASE_URL` into what `node:sqlite` opens: a file path, or
 * `:memory:`. Accepts `file:relative/path`, `file:/absolute/path`,
 * `file:///absolute/path` and `:memory:`.
 */
export function databasePath(url: string): string {
  if (url === ":memory:" || url === "file::memory:") return ":memory:";
  if (url.startsWith("file://")) {
    const parsed = new URL(url);
    if (parsed.host !== "" && parsed.host !== "localhost") {
      throw new ConfigError(
        `Invalid DATABASE_URL: "${url}" names a remote host; use file:///path`,
      );
    }
    return decodeURIComponent(parsed.pathname);
  }
  if (url.startsWith("file:")) {
    const path = url.slice("file:".length).split("?")[0];
    if (path !== "") return decodeURIComponent(path);
  }
  throw new ConfigError(
    `Invalid DATABASE_URL: "${url}" is not file:PATH, file:///PATH or :memory:`,
  );
}

/**
 * Every option at its default, parsed from the table above: the one place
 * defaults live. Modules that take options fall back to these.
 */
export const DEFAULTS: Readonly<Config> = Object.freeze(parseArgs({}).config);

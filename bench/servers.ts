/**
 * Starts the servers under test as real processes, each pinned to its own
 * core when `taskset` exists: Parley exactly as `main.ts` runs in production
 * (with a temporary SQLite file and limits generous enough for a load test),
 * or the bare relay of `bench/baseline_relay.ts`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Which server a step measures. */
export type ServerKind = "parley" | "bare";

/** A server process that is listening. */
export interface ServerProcess extends AsyncDisposable {
  readonly kind: ServerKind;
  readonly pid: number;
  /** The WebSocket URL of its signaling endpoint. */
  readonly wsUrl: string;
  /** The last lines it wrote to stderr, for error reports. */
  readonly log: string[];
  /** Whether it is still running. */
  readonly running: boolean;
  /** Stops it (SIGTERM, then SIGKILL after a few seconds). Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startServer}. */
export interface StartOptions {
  /** CPU to pin the server to, if `taskset` exists. @default {0} */
  cpu?: number;
  /** Directory for Parley's database file. */
  tempDir: string;
  /** Write a V8 CPU profile into this directory when the server stops. */
  cpuProfDir?: string;
  /**
   * Parley only: `REDIS_URL`, so that several instances share rooms (the
   * SQLite file is then unused).
   */
  redisUrl?: string;
}

const ROOT = fileURLToPath(new URL("../", import.meta.url));
// Another checkout of Parley to measure (e.g. a clean export of a commit);
// the bare relay always comes from this one.
const PARLEY_ROOT = (Deno.env.get("BENCH_PARLEY_DIR") ?? ROOT).replace(
  /\/?$/,
  "/",
);
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 8_000;
const LOG_LINES = 40;

let tasksetPath: string | null | undefined;

/** The `taskset` binary, or null when the machine has none. */
export function taskset(): string | null {
  if (tasksetPath === undefined) {
    tasksetPath = null;
    for (const path of ["/usr/bin/taskset", "/bin/taskset"]) {
      try {
        Deno.statSync(path);
        tasksetPath = path;
        break;
      } catch {
        // Not here.
      }
    }
  }
  return tasksetPath;
}

/** A command line, pinned to `cpu` when `taskset` exists. */
export function pinned(cpu: number | undefined, args: string[]): string[] {
  const bin = taskset();
  return bin && cpu !== undefined ? [bin, "-c", String(cpu), ...args] : args;
}

/** Starts a server and resolves once it listens on a free port. */
export async function startServer(
  kind: ServerKind,
  options: StartOptions,
): Promise<ServerProcess> {
  const deno = Deno.execPath();
  if (options.cpuProfDir) {
    await Deno.mkdir(`${options.cpuProfDir}/${kind}`, { recursive: true });
  }
  const prof = options.cpuProfDir
    ? [`--cpu-prof`, `--cpu-prof-dir=${options.cpuProfDir}/${kind}`]
    : [];
  const args = kind === "parley"
    ? [
      deno,
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      ...prof,
      `${PARLEY_ROOT}main.ts`,
    ]
    : [
      deno,
      "run",
      "--allow-net",
      "--allow-env",
      ...prof,
      `${ROOT}bench/baseline_relay.ts`,
    ];
  const env: Record<string, string> = {
    PORT: "0",
    HOST: "127.0.0.1",
    // Parley: a fresh database, and limits that never cut a load test short.
    DATABASE_URL: `file:${options.tempDir}/bench-${crypto.randomUUID()}.db`,
    JOIN_TIMEOUT: "1h",
    IDLE_TIMEOUT: "1h",
    ERROR_BUDGET: "1000000",
    QUEUE_LIMIT: "100000",
    RESUME_GRACE: "1h",
    // Every client is 127.0.0.1: lift the per-address and per-socket limits
    // (they protect a public server from one abuser, not from a load test).
    EXEMPT_IPS: "127.0.0.1",
    MAX_CONNECTIONS: "1000000",
    MAX_CONNECTIONS_PER_IP: "1000000",
    HANDSHAKE_RATE: "1000000",
    JOIN_RATE: "1000000",
    MESSAGE_RATE: "1000000",
    MESSAGE_BURST: "1000000",
    CANDIDATE_BURST: "1000000",
    MAX_BUFFERED: "64MiB",
    MAX_MEMORY: "64GiB",
    // The bare relay's equivalent of IDLE_TIMEOUT.
    IDLE_TIMEOUT_SEC: "3600",
  };
  if (options.redisUrl) env.REDIS_URL = options.redisUrl;
  const [bin, ...rest] = pinned(options.cpu ?? 0, args);
  const child = new Deno.Command(bin, {
    args: rest,
    env,
    cwd: kind === "parley" ? PARLEY_ROOT : ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let running = true;
  const status = child.status.then((s) => {
    running = false;
    return s;
  });
  const log: string[] = [];
  const { promise: listening, resolve, reject } = Promise.withResolvers<
    string
  >();
  // Keep reading stderr for the server's whole life, so it never blocks.
  (async () => {
    let buffer = "";
    for await (
      const chunk of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        log.push(line);
        if (log.length > LOG_LINES) log.shift();
        try {
          const event = JSON.parse(line);
          if (event.event === "listening") resolve(event.url);
        } catch {
          // Not a JSON log line.
        }
      }
    }
  })().catch(() => {});
  status.then((s) =>
    reject(new Error(`${kind} exited with ${s.code}: ${log.join("\n")}`))
  );
  const timer = setTimeout(
    () =>
      reject(new Error(`${kind} did not listen within ${START_TIMEOUT_MS} ms`)),
    START_TIMEOUT_MS,
  );
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= running ? terminate(child, status) : Promise.resolve();
    return stopping;
  };
  let url: string;
  try {
    url = await listening;
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    kind,
    pid: child.pid,
    wsUrl: `${url.replace(/^http/, "ws")}ws`,
    log,
    get running() {
      return running;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Stops a child process: SIGTERM, then SIGKILL if it is still there after
 * `timeoutMs`; resolves once it has exited.
 */
export async function terminate(
  child: Deno.ChildProcess,
  status: Promise<unknown>,
  timeoutMs = STOP_TIMEOUT_MS,
): Promise<void> {
  const signal = (name: Deno.Signal) => {
    try {
      child.kill(name);
    } catch {
      // Already gone.
    }
  };
  signal("SIGTERM");
  const killer = setTimeout(() => signal("SIGKILL"), timeoutMs);
  try {
    await status;
  } finally {
    clearTimeout(killer);
  }
}

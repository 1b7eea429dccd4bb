/**
 * `main.ts` as a real process for tests and benchmarks, configured through
 * the environment as users configure it: for restarts, signals and calls
 * in real browsers. (The in-process server is `tests/support/server.ts`.)
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { deadline } from "./wait.ts";

/** Environment-style configuration, as users write it (`RESUME_GRACE=1s`). */
export type TestEnv = Record<string, string>;

/**
 * Defaults for tests: loopback on a free port, in-memory database, no STUN,
 * and loopback exempt from per-address limits (all test clients share it).
 */
export const TEST_ENV: Readonly<TestEnv> = {
  HOST: "127.0.0.1",
  PORT: "0",
  DATABASE_URL: ":memory:",
  STUN_URLS: "",
  EXEMPT_IPS: "127.0.0.1,::1",
};

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const LISTENING_TIMEOUT_MS = 30_000;

/** A `main.ts` process. */
export interface SpawnedServer extends AsyncDisposable {
  readonly pid: number;
  readonly origin: string;
  readonly wsUrl: string;
  readonly port: number;
  /** Every stderr line so far (JSON log lines). */
  readonly logs: readonly string[];
  /** Settles when the process exits. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Sends `signal` to the process group. */
  kill(signal: Deno.Signal): void;
  /** SIGKILLs the group if still running and waits for the exit. */
  close(): Promise<void>;
}

/** Options for {@linkcode spawnServer}. */
export interface SpawnOptions {
  /** Configuration on top of {@linkcode TEST_ENV}. @default {{}} */
  env?: TestEnv;
  /** Runs it under `ulimit -n` this many open files (through bash). */
  maxOpenFiles?: number;
}

/**
 * Runs `main.ts` in its own process group and waits for its `listening` log
 * line. Use `DATABASE_URL=file:/abs/path` in `env` to keep state across a
 * restart.
 */
export async function spawnServer(
  options: SpawnOptions = {},
): Promise<SpawnedServer> {
  const env = { ...TEST_ENV, ...options.env };
  const deno = [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    MAIN,
  ];
  // `exec` keeps the process ID, so kills still reach main.ts.
  const [command, ...args] = options.maxOpenFiles
    ? [
      "bash",
      "-c",
      `ulimit -n ${options.maxOpenFiles} && exec "$0" "$@"`,
      ...deno,
    ]
    : deno;
  const child = new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    // Its own process group: a kill reaches anything it started, too.
    detached: true,
  }).spawn();
  const status = child.status;
  const logs: string[] = [];
  const { promise: listening, resolve, reject } = Promise.withResolvers<
    string
  >();
  const pump = (async () => {
    const lines = child.stderr
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new LineSplitter());
    for await (const line of lines) {
      logs.push(line);
      try {
        const entry = JSON.parse(line);
        if (entry.event === "listening") resolve(entry.url);
      } catch {
        // Not a log line (a stack trace, say): kept in logs.
      }
    }
    reject(new Error(`main.ts exited before listening:\n${logs.join("\n")}`));
  })();
  let exited = false;
  status.then(() => exited = true);
  const kill = (signal: Deno.Signal) => {
    if (exited) return;
    try {
      Deno.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      kill("SIGKILL");
      await deadline(status, "main.ts to exit");
      await deadline(pump, "main.ts stderr to end");
    })();
  let url: string;
  try {
    url = await deadline(listening, "main.ts to listen", LISTENING_TIMEOUT_MS);
  } catch (error) {
    await close();
    throw error;
  }
  const port = Number(new URL(url).port);
  return {
    pid: child.pid,
    port,
    origin: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    logs,
    status,
    kill,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Splits a text stream into lines. */
class LineSplitter extends TransformStream<string, string> {
  constructor() {
    let buffer = "";
    super({
      transform(chunk, controller) {
        buffer += chunk;
        const lines = buffer.split("\n");
        buffer = lines.pop() ?? "";
        for (const line of lines) controller.enqueue(line);
      },
      flush(controller) {
        if (buffer !== "") controller.enqueue(buffer);
      },
    });
  }
}

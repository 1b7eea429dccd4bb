/**
 * A real `redis-server` for tests, on a free loopback port, with its data in
 * a temporary directory (append-only file on, so a restart keeps the data,
 * as a production Redis for Parley should).
 *
 * @module
 */
import { eventually } from "./wait.ts";
import { freePort, redisServerArgs } from "../../testing/redis.ts";

export { freePort, redisInstalled } from "../../testing/redis.ts";

/** A running `redis-server`. */
export interface RedisServer extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  /** Stops it (SIGTERM, so it writes its data) and waits. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  close(): Promise<void>;
}

async function reachable(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Starts `redis-server` and waits until it accepts connections. */
export async function startRedis(): Promise<RedisServer> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "parley-redis-" });
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    child = new Deno.Command("redis-server", {
      args: redisServerArgs(port, dir, "always"),
      stdout: "null",
      stderr: "null",
    }).spawn();
    await eventually(() => reachable(port), `redis-server on ${port}`);
  };
  const stop = async () => {
    if (!child) return;
    const running = child;
    child = undefined;
    try {
      running.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await running.status;
  };
  await start();
  const close = async () => {
    await stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    close,
    [Symbol.asyncDispose]: close,
  };
}

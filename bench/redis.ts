/**
 * A `redis-server` for the cross-instance scenario: on a free loopback port,
 * pinned to the servers' core, with its append-only file in a temporary
 * directory (`appendfsync everysec`, as `docs/scaling.md` recommends for
 * production; only joins and leaves write to it, relayed signals are pub/sub
 * and never touch the file).
 *
 * @module
 */
import { pinned, terminate } from "./servers.ts";
import { freePort, redisInstalled, redisServerArgs } from "../testing/redis.ts";

export { redisInstalled };

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/** A running `redis-server`. */
export interface RedisProcess extends AsyncDisposable {
  readonly pid: number;
  /** `redis://127.0.0.1:<port>`, for `REDIS_URL`. */
  readonly url: string;
  readonly running: boolean;
  /** Stops it (SIGTERM, then SIGKILL) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

async function answersPing(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode("PING\r\n"));
      const buf = new Uint8Array(16);
      const n = await conn.read(buf);
      return n !== null &&
        new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

/** Starts `redis-server` on `cpu` and resolves once it answers `PING`. */
export async function startRedis(
  options: { cpu?: number; tempDir: string },
): Promise<RedisProcess> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ dir: options.tempDir, prefix: "redis" });
  const [bin, ...args] = pinned(options.cpu ?? 0, [
    "redis-server",
    ...redisServerArgs(port, dir, "everysec"),
  ]);
  const child = new Deno.Command(bin, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let running = true;
  const status = child.status.finally(() => running = false);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (running) await terminate(child, status, STOP_TIMEOUT_MS);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return stopping;
  };
  const until = performance.now() + START_TIMEOUT_MS;
  while (!(await answersPing(port))) {
    if (!running || performance.now() > until) {
      await stop();
      throw new Error(`redis-server did not start on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    pid: child.pid,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return running;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

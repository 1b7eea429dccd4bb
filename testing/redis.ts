/**
 * What the tests and the benchmarks share to start a `redis-server`.
 *
 * @module
 */

/** Whether `redis-server` is installed. */
export function redisInstalled(): boolean {
  try {
    const { success } = new Deno.Command("redis-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return success;
  } catch {
    return false;
  }
}

/** A port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * `redis-server` arguments for a private instance on loopback `port` with
 * its append-only file in `dir`, synced `always` (tests: nothing lost on a
 * restart) or `everysec` (benchmarks: production's usual setting).
 */
export function redisServerArgs(
  port: number,
  dir: string,
  appendfsync: "always" | "everysec",
): string[] {
  return [
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    appendfsync,
    "--protected-mode",
    "no",
    "--loglevel",
    "warning",
  ];
}

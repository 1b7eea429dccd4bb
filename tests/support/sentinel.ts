/**
 * A real Redis Sentinel set for tests: a primary and a replica (both with
 * the append-only file on) and three `redis-sentinel` processes watching
 * them under the name `parley`, quorum 2, all on loopback with their files
 * in one temporary directory.
 *
 * @module
 */
import { join } from "node:path";
import { createClient } from "redis";
import { eventually } from "./wait.ts";

/** A client on one node of the set. */
export type NodeClient = ReturnType<typeof nodeClient>;

function nodeClient(port: number) {
  const client = createClient({
    url: `redis://127.0.0.1:${port}`,
    socket: { reconnectStrategy: false },
  });
  client.on("error", () => {});
  return client;
}
import { freePort, redisServerArgs } from "../../testing/redis.ts";

/** The name the sentinels monitor the primary by. */
export const MASTER_NAME = "parley";

/** Whether `redis-sentinel` is installed. */
export function sentinelInstalled(): boolean {
  try {
    return new Deno.Command("redis-sentinel", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

/** A running primary, replica and three sentinels. */
export interface SentinelSet extends AsyncDisposable {
  /** `REDIS_SENTINELS` for Parley: `127.0.0.1:P,…`. */
  readonly sentinels: string;
  /** The ports of the data nodes, primary first (as started). */
  readonly primaryPort: number;
  readonly replicaPort: number;
  /** SIGKILLs the primary (no chance to write or hand over anything). */
  killPrimary(): Promise<void>;
  /** The primary's port as sentinel 0 names it now. */
  masterPort(): Promise<number>;
  /** Runs `fn` with a client on a data node. */
  withNode<T>(
    port: number,
    fn: (client: NodeClient) => Promise<T>,
  ): Promise<T>;
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

/** Starts the set and waits until every sentinel knows the others and the replica. */
export async function startSentinelSet(): Promise<SentinelSet> {
  const dir = await Deno.makeTempDir({ prefix: "parley-sentinel-" });
  const children: Deno.ChildProcess[] = [];
  const spawn = (command: string, args: string[]) => {
    const child = new Deno.Command(command, {
      args,
      stdout: "null",
      stderr: "null",
    }).spawn();
    children.push(child);
    return child;
  };
  const node = async (name: string, extra: string[] = []) => {
    const port = freePort();
    const data = join(dir, name);
    await Deno.mkdir(data);
    const child = spawn("redis-server", [
      ...redisServerArgs(port, data, "always"),
      ...extra,
    ]);
    await eventually(() => reachable(port), `${name} on ${port}`);
    return { port, child };
  };
  const withNode = async <T>(
    port: number,
    fn: (client: NodeClient) => Promise<T>,
  ): Promise<T> => {
    const client = nodeClient(port);
    await client.connect();
    try {
      return await fn(client);
    } finally {
      client.destroy();
    }
  };
  const close = async () => {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const primary = await node("primary");
    const replica = await node("replica", [
      "--replicaof",
      "127.0.0.1",
      String(primary.port),
    ]);
    await eventually(
      () =>
        withNode(
          replica.port,
          async (c) =>
            (await c.info("replication")).includes("master_link_status:up"),
        ),
      "the replica to sync",
    );
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = freePort();
      const conf = join(dir, `sentinel-${i}.conf`);
      await Deno.writeTextFile(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          "protected-mode no",
          `dir ${dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 3000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          "",
        ].join("\n"),
      );
      spawn("redis-sentinel", [conf]);
      await eventually(() => reachable(port), `sentinel on ${port}`);
      sentinelPorts.push(port);
    }
    // Each sentinel has found the replica and the two other sentinels.
    for (const port of sentinelPorts) {
      await eventually(
        () =>
          withNode(port, async (c) => {
            const sentinels = await c.sendCommand([
              "SENTINEL",
              "SENTINELS",
              MASTER_NAME,
            ]) as unknown[];
            const replicas = await c.sendCommand([
              "SENTINEL",
              "REPLICAS",
              MASTER_NAME,
            ]) as unknown[];
            return sentinels.length === 2 && replicas.length === 1;
          }),
        `sentinel ${port} to see its peers and the replica`,
        { timeoutMs: 20_000 },
      );
    }
    return {
      sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(","),
      primaryPort: primary.port,
      replicaPort: replica.port,
      async killPrimary() {
        primary.child.kill("SIGKILL");
        await primary.child.status;
      },
      masterPort: () =>
        withNode(sentinelPorts[0], async (c) => {
          const [, port] = await c.sendCommand([
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            MASTER_NAME,
          ]) as string[];
          return Number(port);
        }),
      withNode,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Micro-benchmarks of the SQLite store's writes on the join and leave
 * paths (`addPeer`, `removePeer`) and of one `sweep` step, in
 * memory and, with write permission, in a WAL file like production.
 *
 * Run: `deno bench --allow-read --allow-write storage/sqlite_store_bench.ts`.
 *
 * @module
 */
import { SqliteStore } from "./sqlite_store.ts";
import type { PeerRecord } from "./mod.ts";

const canWrite =
  Deno.permissions.querySync({ name: "write" }).state === "granted";
const targets: [string, string][] = [["memory", ":memory:"]];
if (canWrite) {
  const dir = Deno.makeTempDirSync({ prefix: "parley-store-bench-" });
  targets.push(["file", `${dir}/bench.db`]);
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Best effort.
    }
  });
}

let n = 0;
function peer(
  roomId: string,
  now: number,
  awaySince: number | null = null,
): PeerRecord {
  const peerId = `peer-${n++}`;
  return {
    peerId,
    roomId,
    name: "Ada",
    tokenHash: "0".repeat(64),
    joinedAt: now,
    awaySince,
  };
}

for (const [where, path] of targets) {
  const store = new SqliteStore(path);

  Deno.bench({
    name: `addPeer + removePeer (${where})`,
    group: `join and leave (${where})`,
    async fn() {
      const p = peer(`room-${n}`, Date.now());
      await store.addPeer(p, 8);
      await store.removePeer(p.peerId, Date.now());
    },
  });

  Deno.bench({
    name: `sweep of 200 expired peers (${where})`,
    group: `sweep (${where})`,
    async fn(b) {
      const now = Date.now();
      for (let i = 0; i < 200; i++) {
        // Away for a minute, past the 30 s grace: the sweep removes it.
        await store.addPeer(
          peer(`sweep-${n >> 1}`, now - 120_000, now - 60_000),
          8,
        );
      }
      b.start();
      await store.sweep(now, { graceMs: 30_000, roomTtlMs: 0, batch: 200 });
      b.end();
    },
  });
}

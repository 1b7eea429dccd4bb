/**
 * Room state in both stores, SQLite and a real `redis-server`, held to the
 * same rules: the first peer hosts, the lock refuses newcomers in the same
 * step as the capacity check, the host right passes to the member present
 * longest, and the knock limits of a room (waiting at once, per minute).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { KnockLimits, PeerRecord, RoomStore } from "../storage/mod.ts";
import { SqliteStore } from "../storage/sqlite_store.ts";
import { redisInstalled, startRedis } from "./support/redis.ts";
import { openRedisStore, tempDir } from "./support/server.ts";

const T0 = 1_700_000_000_000;
const SANITIZE = { sanitizeOps: true, sanitizeResources: true };

interface Kind {
  name: string;
  ignore: boolean;
  open(): Promise<{ store: RoomStore; close(): Promise<void> }>;
}

const KINDS: Kind[] = [
  {
    name: "sqlite",
    ignore: false,
    open() {
      const store = new SqliteStore(":memory:");
      return Promise.resolve({
        store,
        close: () => Promise.resolve(store.close()),
      });
    },
  },
  {
    name: "redis",
    ignore: !redisInstalled() && Deno.env.get("CI") !== "true",
    async open() {
      const redis = await startRedis();
      const store = await openRedisStore(redis.url);
      return {
        store,
        close: async () => {
          store.close();
          await redis.close();
        },
      };
    },
  },
];

let counter = 0;
function peer(roomId: string, joinedAt = T0 + ++counter): PeerRecord {
  return {
    peerId: `peer-${++counter}`,
    roomId,
    name: "",
    tokenHash: "ab".repeat(32),
    joinedAt,
    awaySince: null,
    instanceId: "test-instance",
  };
}

for (const kind of KINDS) {
  Deno.test({
    name:
      `[${kind.name}] the first peer hosts; only the host locks; a locked room refuses newcomers unless admitted, after the capacity check`,
    ignore: kind.ignore,
    ...SANITIZE,
    async fn() {
      const { store, close } = await kind.open();
      try {
        assert.deepEqual(await store.getRoom("r"), {
          host: null,
          locked: false,
        });
        const a = peer("r");
        const b = peer("r");
        assert.equal(await store.addPeer(a, 3), "ok");
        assert.equal(await store.addPeer(b, 3), "ok");
        assert.deepEqual(await store.getRoom("r"), {
          host: a.peerId,
          locked: false,
        });
        assert.deepEqual(await store.setLocked("r", b.peerId, true), {
          host: a.peerId,
          locked: false,
        }, "a member that does not host cannot lock");
        assert.deepEqual(await store.setLocked("r", a.peerId, true), {
          host: a.peerId,
          locked: true,
        });
        assert.equal(await store.addPeer(peer("r"), 3), "locked");
        assert.equal(
          await store.addPeer(peer("r"), 3, { admitted: true }),
          "ok",
        );
        // Full comes first: an admitted peer does not pass the capacity.
        assert.equal(await store.addPeer(peer("r"), 3), "full");
        assert.equal(
          await store.addPeer(peer("r"), 3, { admitted: true }),
          "full",
        );
        assert.equal((await store.listPeers("r")).length, 3);
        // Other rooms are not locked.
        assert.equal(await store.addPeer(peer("other"), 3), "ok");
      } finally {
        await close();
      }
    },
  });

  Deno.test({
    name:
      `[${kind.name}] the host right passes to the member present longest, through leave and sweep; an emptied room forgets host and lock`,
    ignore: kind.ignore,
    ...SANITIZE,
    async fn() {
      const { store, close } = await kind.open();
      try {
        const [a, b, c, d] = [peer("h"), peer("h"), peer("h"), peer("h")];
        for (const p of [a, b, c, d]) await store.addPeer(p, 8);
        await store.setLocked("h", a.peerId, true);
        // b is away: c, the next present, takes over from a.
        await store.setAway(b.peerId, T0 + 100, "test-instance");
        assert.equal(await store.removePeer(a.peerId, T0 + 200), true);
        assert.deepEqual(await store.getRoom("h"), {
          host: c.peerId,
          locked: true,
        });
        // Removing another member changes nothing.
        await store.removePeer(d.peerId, T0 + 300);
        assert.equal((await store.getRoom("h")).host, c.peerId);
        // c's grace runs out in a sweep: b, away but the only one left, hosts.
        await store.setAway(c.peerId, T0 + 400, "test-instance");
        // b came back and went away again later: it outlives the sweep.
        await store.resume(b.peerId, "test-instance");
        await store.setAway(b.peerId, T0 + 10_000, "test-instance");
        const swept = await store.sweep(T0 + 5_000, {
          graceMs: 1_000,
          roomTtlMs: 60_000,
          batch: 10,
        });
        assert.deepEqual(swept.peers, [{
          peerId: c.peerId,
          roomId: "h",
          wasHost: true,
        }]);
        assert.deepEqual(await store.getRoom("h"), {
          host: b.peerId,
          locked: true,
        });
        await store.removePeer(b.peerId, T0 + 6_000);
        assert.deepEqual(await store.getRoom("h"), {
          host: null,
          locked: false,
        });
        // The next one in creates it afresh.
        const e = peer("h");
        assert.equal(await store.addPeer(e, 8), "ok");
        assert.deepEqual(await store.getRoom("h"), {
          host: e.peerId,
          locked: false,
        });
      } finally {
        await close();
      }
    },
  });

  Deno.test({
    name:
      `[${kind.name}] openKnock() counts a room's waiting knocks and its knocks per minute, each at its limit and one past`,
    ignore: kind.ignore,
    ...SANITIZE,
    async fn() {
      const { store, close } = await kind.open();
      const limits: KnockLimits = {
        maxWaiting: 2,
        perMinute: 3,
        timeoutMs: 60_000,
      };
      try {
        assert.equal(await store.openKnock("k", "k1", T0, limits), "ok");
        assert.equal(await store.openKnock("k", "k2", T0, limits), "ok");
        assert.equal(await store.openKnock("k", "k3", T0, limits), "busy");
        // Another room has its own count.
        assert.equal(await store.openKnock("k2", "x", T0, limits), "ok");
        await store.closeKnock("k", "k1");
        assert.equal(await store.openKnock("k", "k4", T0, limits), "ok");
        await store.closeKnock("k", "k2");
        await store.closeKnock("k", "k4");
        // Three went through this minute: the fourth is refused ...
        assert.equal(await store.openKnock("k", "k5", T0, limits), "rate");
        // ... until a third of a minute refills one.
        assert.equal(
          await store.openKnock("k", "k6", T0 + 20_000, limits),
          "ok",
        );
        assert.equal(
          await store.openKnock("k", "k7", T0 + 20_000, limits),
          "rate",
        );
        // A knock nobody closed stops counting after its timeout.
        const short = { maxWaiting: 1, perMinute: 10, timeoutMs: 1_000 };
        assert.equal(await store.openKnock("t", "t1", T0, short), "ok");
        assert.equal(await store.openKnock("t", "t2", T0 + 999, short), "busy");
        assert.equal(await store.openKnock("t", "t3", T0 + 1_000, short), "ok");
      } finally {
        await close();
      }
    },
  });
}

Deno.test({
  name:
    "SqliteStore adds the host and locked columns to a database made before them",
  ...SANITIZE,
  async fn() {
    await using dir = await tempDir();
    const path = join(dir.path, "old.db");
    const old = new DatabaseSync(path);
    old.exec(`
      CREATE TABLE rooms (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        empty_since INTEGER
      ) STRICT;
      INSERT INTO rooms (id, created_at) VALUES ('kept', 1);
    `);
    old.close();
    const store = new SqliteStore(path);
    try {
      assert.deepEqual(await store.getRoom("kept"), {
        host: null,
        locked: false,
      });
      const p = peer("kept");
      assert.equal(await store.addPeer(p, 8), "ok");
      assert.equal((await store.getRoom("kept")).host, p.peerId);
    } finally {
      store.close();
    }
  },
});

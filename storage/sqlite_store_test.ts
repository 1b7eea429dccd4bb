import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  type PeerRecord,
  type RoomStore,
  StoreUnavailableError,
} from "./mod.ts";
import { SqliteStore } from "./sqlite_store.ts";

const T0 = 1_700_000_000_000;
const GRACE = 30_000;
const TTL = 300_000;

const INSTANCE = "test-instance";
function markAway(store: RoomStore, peerId: string, since: number) {
  return store.setAway(peerId, since, INSTANCE);
}
function markPresent(store: RoomStore, peerId: string): Promise<unknown> {
  return store.resume(peerId, INSTANCE);
}
function markAllAway(store: RoomStore, now: number): Promise<number> {
  return store.recover(INSTANCE, now);
}

let counter = 0;
function peer(roomId: string, fields: Partial<PeerRecord> = {}): PeerRecord {
  counter++;
  return {
    peerId: `peer-${counter}`,
    roomId,
    name: `name ${counter}`,
    tokenHash: "ab".repeat(32),
    joinedAt: T0 + counter,
    awaySince: null,
    ...fields,
  };
}

function memoryStore(): SqliteStore & Disposable {
  const store = new SqliteStore(":memory:") as SqliteStore & Disposable;
  store[Symbol.dispose] = () => store.close();
  return store;
}

const sweepOptions = (batch = 100) => ({
  graceMs: GRACE,
  roomTtlMs: TTL,
  batch,
});

Deno.test("SqliteStore.addPeer() stores the peer and creates its room", async () => {
  using store = memoryStore();
  const a = peer("r1", { name: "Ada" });
  const b = peer("r1");
  assert.equal(await store.addPeer(a, 8), "ok");
  assert.equal(await store.addPeer(b, 8), "ok");
  const stored = await store.getPeer(a.peerId);
  for (const key of Object.keys(a) as (keyof PeerRecord)[]) {
    assert.equal(stored?.[key], a[key], key);
  }
  assert.deepEqual((await store.listPeers("r1")).map((p) => p.peerId), [
    a.peerId,
    b.peerId,
  ]);
  assert.deepEqual(await store.listPeers("nope"), []);
  assert.equal(await store.getPeer("nope"), undefined);
  assert.deepEqual(await store.counts(), { rooms: 1, peers: 2 });
});

Deno.test("SqliteStore.addPeer() answers full at maxRoomSize, counting away peers", async () => {
  using store = memoryStore();
  assert.equal(await store.addPeer(peer("r"), 2), "ok");
  const away = peer("r");
  assert.equal(await store.addPeer(away, 2), "ok");
  await markAway(store, away.peerId, T0);
  assert.equal(await store.addPeer(peer("r"), 2), "full");
  assert.equal(await store.addPeer(peer("other"), 2), "ok");
  assert.equal((await store.listPeers("r")).length, 2);
});

/**
 * A worker thread that opens its own connection to `path` and adds `count`
 * peers to one room as fast as it can: real concurrency, which calls on one
 * synchronous connection cannot have.
 */
const RACE_WORKER = `
import { SqliteStore } from ${
  JSON.stringify(import.meta.resolve("./sqlite_store.ts"))
};
self.onmessage = async ({ data }) => {
  const store = new SqliteStore(data.path, { busyTimeoutMs: 10000 });
  const results = [];
  for (let i = 0; i < data.count; i++) {
    results.push(await store.addPeer({
      peerId: data.tag + i, roomId: "shared", name: "", tokenHash: "ab",
      joinedAt: i, awaySince: null,
    }, data.max));
  }
  store.close();
  self.postMessage(results);
};`;

Deno.test("SqliteStore.addPeer() never admits more than maxRoomSize when three connections race on one file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-store-" });
  const url = URL.createObjectURL(
    new Blob([RACE_WORKER], { type: "application/javascript" }),
  );
  try {
    const path = join(dir, "p.db");
    // Create the schema first, so the workers only race on rows.
    new SqliteStore(path).close();
    const max = 20;
    const runs = ["a", "b", "c"].map((tag) => {
      const worker = new Worker(url, { type: "module" });
      const done = new Promise<string[]>((resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(e.message));
        };
      }).finally(() => worker.terminate());
      worker.postMessage({ path, tag, count: max, max });
      return done;
    });
    const results = (await Promise.all(runs)).flat();
    assert.equal(results.filter((r) => r === "ok").length, max);
    const store = new SqliteStore(path);
    try {
      assert.equal((await store.listPeers("shared")).length, max);
    } finally {
      store.close();
    }
  } finally {
    URL.revokeObjectURL(url);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore answers StoreUnavailableError while another connection holds the write lock", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-store-" });
  try {
    const path = join(dir, "p.db");
    const store = new SqliteStore(path, { busyTimeoutMs: 10 });
    const other = new DatabaseSync(path);
    try {
      other.exec("BEGIN IMMEDIATE");
      await assert.rejects(
        () => store.addPeer(peer("locked"), 8),
        StoreUnavailableError,
      );
      other.exec("ROLLBACK");
      assert.equal(await store.addPeer(peer("locked"), 8), "ok");
    } finally {
      other.close();
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore throws a programming error as it is, not as StoreUnavailableError", async () => {
  using store = memoryStore();
  const twin = peer("r");
  await store.addPeer(twin, 8);
  const error = await store.addPeer(twin, 8).then(
    () => assert.fail("a duplicate peer ID was stored"),
    (error: unknown) => error,
  );
  assert.ok(!(error instanceof StoreUnavailableError), String(error));
  assert.match(String(error), /UNIQUE constraint/);
});

Deno.test("SqliteStore.sweep() checkpoints the WAL into the database file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-store-" });
  try {
    const path = join(dir, "p.db");
    const store = new SqliteStore(path);
    try {
      await store.addPeer(peer("wal"), 8);
      // The database file alone (without its WAL) is what a checkpoint wrote.
      const copyCount = async () => {
        const copy = join(dir, `copy-${crypto.randomUUID()}.db`);
        await Deno.copyFile(path, copy);
        const db = new DatabaseSync(copy);
        try {
          return (db.prepare("SELECT count(*) AS n FROM peers").get() as {
            n: number;
          }).n;
        } catch {
          return 0;
        } finally {
          db.close();
        }
      };
      assert.equal(await copyCount(), 0, "automatic checkpoints are off");
      await store.sweep(T0, sweepOptions());
      assert.equal(await copyCount(), 1);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore.sweep() removes an away peer only after the grace", async () => {
  using store = memoryStore();
  const away = peer("r");
  const present = peer("r", { joinedAt: T0 - 10 * GRACE });
  await store.addPeer(away, 8);
  await store.addPeer(present, 8);
  await markAway(store, away.peerId, T0);
  assert.equal((await store.getPeer(away.peerId))?.awaySince, T0);

  let result = await store.sweep(T0 + GRACE - 1, sweepOptions());
  assert.deepEqual(result, { peers: [], rooms: [] });
  result = await store.sweep(T0 + GRACE + 1, sweepOptions());
  // It joined the room first, so it was the host.
  assert.deepEqual(result.peers, [{
    peerId: away.peerId,
    roomId: "r",
    wasHost: true,
  }]);
  assert.equal(await store.getPeer(away.peerId), undefined);
  // A present peer never expires, however old.
  result = await store.sweep(T0 + 100 * GRACE, sweepOptions());
  assert.deepEqual(result.peers, []);
  assert.ok(await store.getPeer(present.peerId));
});

Deno.test("SqliteStore.sweep() keeps a peer that came back before the grace ran out", async () => {
  using store = memoryStore();
  const p = peer("r");
  await store.addPeer(p, 8);
  await markAway(store, p.peerId, T0);
  await markPresent(store, p.peerId);
  assert.equal((await store.getPeer(p.peerId))?.awaySince, null);
  const result = await store.sweep(T0 + 10 * GRACE, sweepOptions());
  assert.deepEqual(result.peers, []);
});

Deno.test("SqliteStore.sweep() forgets an empty room only after its TTL", async () => {
  using store = memoryStore();
  const p = peer("ttl");
  await store.addPeer(p, 8);
  assert.equal(await store.removePeer(p.peerId, T0), true);
  assert.equal(await store.removePeer(p.peerId, T0), false);
  assert.deepEqual(await store.counts(), { rooms: 1, peers: 0 });
  assert.deepEqual((await store.sweep(T0 + TTL - 1, sweepOptions())).rooms, []);
  assert.deepEqual((await store.sweep(T0 + TTL + 1, sweepOptions())).rooms, [
    "ttl",
  ]);
  assert.deepEqual(await store.counts(), { rooms: 0, peers: 0 });
});

Deno.test("SqliteStore.sweep() keeps a room that filled again before its TTL", async () => {
  using store = memoryStore();
  const first = peer("again");
  await store.addPeer(first, 8);
  await store.removePeer(first.peerId, T0);
  await store.addPeer(peer("again"), 8);
  const result = await store.sweep(T0 + 10 * TTL, sweepOptions());
  assert.deepEqual(result.rooms, []);
  assert.equal((await store.listPeers("again")).length, 1);
});

Deno.test("SqliteStore.sweep() starts the room TTL when its last away peer expires", async () => {
  using store = memoryStore();
  const p = peer("last");
  await store.addPeer(p, 8);
  await markAway(store, p.peerId, T0);
  const expiredAt = T0 + GRACE + 1;
  assert.equal((await store.sweep(expiredAt, sweepOptions())).peers.length, 1);
  assert.deepEqual(
    (await store.sweep(expiredAt + TTL - 1, sweepOptions())).rooms,
    [],
  );
  assert.deepEqual(
    (await store.sweep(expiredAt + TTL + 1, sweepOptions())).rooms,
    ["last"],
  );
});

Deno.test("SqliteStore.sweep() removes at most batch peers and batch rooms per step", async () => {
  using store = memoryStore();
  for (let i = 0; i < 5; i++) {
    const p = peer(`room-${i}`);
    await store.addPeer(p, 8);
    await markAway(store, p.peerId, T0 + i);
  }
  const later = T0 + GRACE + 100;
  const sizes: number[] = [];
  for (let step = 0; step < 4; step++) {
    sizes.push((await store.sweep(later, sweepOptions(2))).peers.length);
  }
  assert.deepEqual(sizes, [2, 2, 1, 0]);
  const roomSizes: number[] = [];
  for (let step = 0; step < 4; step++) {
    roomSizes.push(
      (await store.sweep(later + TTL + 1, sweepOptions(2))).rooms.length,
    );
  }
  assert.deepEqual(roomSizes, [2, 2, 1, 0]);
  assert.deepEqual(await store.counts(), { rooms: 0, peers: 0 });
});

Deno.test("SqliteStore.sweep() removes the longest-away peers first", async () => {
  using store = memoryStore();
  const late = peer("o");
  const early = peer("o");
  await store.addPeer(late, 8);
  await store.addPeer(early, 8);
  await markAway(store, late.peerId, T0 + 500);
  await markAway(store, early.peerId, T0);
  const result = await store.sweep(T0 + GRACE + 1000, sweepOptions(1));
  assert.deepEqual(result.peers.map((p) => p.peerId), [early.peerId]);
});

Deno.test("SqliteStore marks every peer away at a restart, with the grace from then", async () => {
  using store = memoryStore();
  const a = peer("r");
  const b = peer("r");
  await store.addPeer(a, 8);
  await store.addPeer(b, 8);
  const restart = T0 + 1000;
  assert.equal(await markAllAway(store, restart), 2);
  for (const p of [a, b]) {
    assert.equal((await store.getPeer(p.peerId))?.awaySince, restart);
  }
  assert.deepEqual(
    (await store.sweep(restart + GRACE - 1, sweepOptions())).peers,
    [],
  );
  assert.equal(
    (await store.sweep(restart + GRACE + 1, sweepOptions())).peers.length,
    2,
  );
});

Deno.test("SqliteStore keeps rooms and sessions in its file across reopening", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-store-" });
  try {
    const path = join(dir, "p.db");
    const p = peer("durable");
    const first = new SqliteStore(path);
    await first.addPeer(p, 8);
    first.close();
    const second = new SqliteStore(path);
    try {
      assert.equal((await second.getPeer(p.peerId))?.tokenHash, p.tokenHash);
      assert.deepEqual(await second.counts(), { rooms: 1, peers: 1 });
    } finally {
      second.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore.close() is idempotent and later calls reject with StoreUnavailableError", async () => {
  const store = new SqliteStore(":memory:");
  await store.check();
  store.close();
  store.close();
  await assert.rejects(() => store.check(), StoreUnavailableError);
  await assert.rejects(
    () => store.addPeer(peer("x"), 8),
    StoreUnavailableError,
  );
  await assert.rejects(() => store.getPeer("x"), StoreUnavailableError);
  await assert.rejects(
    () => store.sweep(T0, sweepOptions()),
    StoreUnavailableError,
  );
});

Deno.test("SqliteStore throws StoreUnavailableError when the file cannot be opened", () => {
  assert.throws(
    () => new SqliteStore("/nonexistent-dir-parley/x/p.db"),
    StoreUnavailableError,
  );
});

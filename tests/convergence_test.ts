/**
 * Membership converges across instances on a real `redis-server` even when
 * a room event is lost, a subscribe fails, or the instance that sweeps a
 * peer is not the one its room is loaded on.
 */
import assert from "node:assert/strict";
import type { Bus, RoomEvent, RoomStore } from "../storage/mod.ts";
import { StoreUnavailableError } from "../storage/mod.ts";
import type { RedisStore } from "../storage/redis_store.ts";
import { redisInstalled, startRedis } from "./support/redis.ts";
import {
  openRedisStore,
  startTestServer,
  type TestEnv,
} from "./support/server.ts";
import { TestClient } from "./support/ws_client.ts";
import { eventually } from "./support/wait.ts";

const SANITIZE = { sanitizeOps: true, sanitizeResources: true };
// Under CI a missing redis-server fails these tests instead of skipping them.
const ignore = !redisInstalled() && Deno.env.get("CI") !== "true";

/**
 * `store` with its bus dropping every `left` event it is asked to publish:
 * a publish lost on the way, as fire-and-forget allows.
 */
function droppingLeft(store: RedisStore): RoomStore {
  const bus: Bus = {
    instanceId: store.instanceId,
    get healthy() {
      return store.healthy;
    },
    listen: (handlers) => store.listen(handlers),
    sendToPeer: (instanceId, peerId, text, hops) =>
      store.sendToPeer(instanceId, peerId, text, hops),
    publish: (roomId: string, event: RoomEvent) => {
      if (event.kind !== "left") store.publish(roomId, event);
    },
    follow: (roomId) => store.follow(roomId),
    unfollow: (roomId) => store.unfollow(roomId),
  };
  return {
    addPeer: (peer, max, options) => store.addPeer(peer, max, options),
    getRoom: (roomId) => store.getRoom(roomId),
    openKnock: (roomId, knockId, now, limits) =>
      store.openKnock(roomId, knockId, now, limits),
    closeKnock: (roomId, knockId) => store.closeKnock(roomId, knockId),
    setLocked: (roomId, hostId, locked) =>
      store.setLocked(roomId, hostId, locked),
    getPeer: (peerId) => store.getPeer(peerId),
    listPeers: (roomId) => store.listPeers(roomId),
    setAway: (peerId, since, instanceId) =>
      store.setAway(peerId, since, instanceId),
    resume: (peerId, instanceId) => store.resume(peerId, instanceId),
    enqueue: (peerId, text, limit, unreachable) =>
      store.enqueue(peerId, text, limit, unreachable),
    removePeer: (peerId, now) => store.removePeer(peerId, now),
    recover: (instanceId, now) => store.recover(instanceId, now),
    sweep: (now, options) => store.sweep(now, options),
    counts: () => store.counts(),
    check: () => store.check(),
    bus,
    close: () => store.close(),
  };
}

/**
 * Two in-process instances on one Redis, X connected to A and Y to B, both
 * joined to `room` (X has seen Y join). `drop` loses B's `left` events.
 */
async function twoInstances(
  url: string,
  room: string,
  env: { a: TestEnv; b: TestEnv },
  drop = false,
) {
  const storeA = await openRedisStore(url);
  const storeB = await openRedisStore(url);
  const a = await startTestServer({ store: storeA, env: env.a });
  const b = await startTestServer({
    store: drop ? droppingLeft(storeB) : storeB,
    env: env.b,
  });
  const x = await TestClient.connect(a.wsUrl, { label: "x" });
  const y = await TestClient.connect(b.wsUrl, { label: "y" });
  const jx = await x.join(room);
  const jy = await y.join(room);
  await x.next("peer-joined");
  return {
    a,
    b,
    x,
    y,
    jx,
    jy,
    async [Symbol.asyncDispose]() {
      await x.close();
      await y.close();
      await a.close();
      await b.close();
      storeA.close();
      storeB.close();
    },
  };
}

Deno.test({
  name:
    "a member whose left event was lost leaves the other instance's view within ten sweeps",
  ignore,
  ...SANITIZE,
  async fn() {
    await using redis = await startRedis();
    await using servers = await twoInstances(redis.url, "ghost", {
      a: { SWEEP_INTERVAL: "100ms" },
      b: {},
    }, true);
    const { x, y, jy } = servers;
    y.send({ type: "leave" });
    // B's `left` never goes out; A finds it in the store within ten sweeps.
    assert.deepEqual(await x.next("peer-left", 5000), {
      type: "peer-left",
      peerId: jy.peerId,
    });
    x.send({ type: "signal", to: jy.peerId, data: 1, ref: 7 });
    const error = await x.nextError("unknown-peer");
    assert.equal(error.ref, 7);
  },
});

Deno.test({
  name:
    "an instance checks its rooms against the store when Redis comes back, finding a lost left",
  ignore,
  ...SANITIZE,
  async fn() {
    await using redis = await startRedis();
    // Sweeps (and so periodic checks) far apart: only the reconnect helps.
    await using servers = await twoInstances(redis.url, "blip", {
      a: { SWEEP_INTERVAL: "1h" },
      b: { SWEEP_INTERVAL: "1h" },
    }, true);
    const { x, y, jy } = servers;
    y.send({ type: "leave" });
    await eventually(
      async () => (await servers.b.store.counts()).peers === 1,
      "Y removed from the store",
    );
    await redis.stop();
    await redis.start();
    assert.deepEqual(await x.next("peer-left", 8000), {
      type: "peer-left",
      peerId: jy.peerId,
    });
  },
});

Deno.test({
  name:
    "a signal to a member the store no longer has gets unknown-peer, and the room is told it left",
  ignore,
  ...SANITIZE,
  async fn() {
    await using redis = await startRedis();
    await using servers = await twoInstances(redis.url, "gone", {
      a: { SWEEP_INTERVAL: "1h" },
      b: { SWEEP_INTERVAL: "1h" },
    });
    const { x, y, jy } = servers;
    // Y drops: A hears it went away, so a signal to it goes to its queue.
    await y.close();
    await eventually(
      async () => (await servers.a.store.getPeer(jy.peerId))?.awaySince != null,
      "Y away in the store",
    );
    // The store loses Y without a word to A (as when a left is lost).
    using other = await openedStore(redis.url);
    assert.equal(await other.store.removePeer(jy.peerId, Date.now()), true);
    x.send({ type: "signal", to: jy.peerId, data: 1, ref: 3 });
    const error = await x.nextError("unknown-peer");
    assert.equal(error.ref, 3);
    assert.deepEqual(await x.next("peer-left"), {
      type: "peer-left",
      peerId: jy.peerId,
    });
  },
});

Deno.test({
  name:
    "a peer swept by an instance its room is not loaded on is announced to the instance that has it",
  ignore,
  ...SANITIZE,
  async fn() {
    await using redis = await startRedis();
    // Only A sweeps; the room stays loaded on B, where Y is connected.
    await using servers = await twoInstances(redis.url, "swept", {
      a: { SWEEP_INTERVAL: "100ms", RESUME_GRACE: "1s" },
      b: { SWEEP_INTERVAL: "1h", RESUME_GRACE: "1s" },
    });
    const { x, y, jx } = servers;
    await x.close();
    assert.deepEqual(await y.next("peer-left", 8000), {
      type: "peer-left",
      peerId: jx.peerId,
    });
  },
});

/** A RedisStore on `url`, closed at the end of the scope. */
async function openedStore(url: string) {
  const store = await openRedisStore(url);
  return { store, [Symbol.dispose]: () => store.close() };
}

Deno.test({
  name:
    "RedisStore.follow() subscribes again after a subscribe failed while Redis was down",
  ignore,
  ...SANITIZE,
  async fn() {
    await using redis = await startRedis();
    const states: boolean[] = [];
    const a = await openRedisStore(redis.url, undefined, {
      onStateChange: ({ connected }) => states.push(connected),
    });
    using _a = { [Symbol.dispose]: () => a.close() };
    using b = await openedStore(redis.url);
    const events: RoomEvent[] = [];
    a.listen({
      peerMessage: () => {},
      roomEvent: (_roomId, event) => events.push(event),
      undeliverable: () => {},
      resync: () => {},
    });
    await redis.stop();
    await eventually(() => states.at(-1) === false, "A sees Redis gone");
    await assert.rejects(a.follow("r"), StoreUnavailableError);
    await redis.start();
    await eventually(() => states.at(-1) === true, "A reconnected");
    await eventually(async () => {
      await b.store.check().catch(() => {});
      return true;
    }, "B reconnected");
    await a.follow("r");
    await eventually(() => {
      b.store.publish("r", { kind: "left", peerId: "p" });
      return events.length > 0;
    }, "A hears the room's events");
    assert.deepEqual(events[0], { kind: "left", peerId: "p" });
  },
});

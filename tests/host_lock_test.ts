/**
 * Host, lock, knock and remove through the real server and real WebSockets,
 * on every backend (SQLite, and Redis when available), across two instances
 * sharing one Redis, and across a restart of the process on a SQLite file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CLOSE } from "../signaling/protocol.ts";
import { redisInstalled, startRedis } from "./support/redis.ts";
import {
  BACKENDS,
  openRedisStore,
  spawnServer,
  startTestServer,
  tempDir,
  type TestEnv,
  type TestServer,
} from "./support/server.ts";
import { type JoinedMsg, TestClient } from "./support/ws_client.ts";

const SANITIZE = { sanitizeOps: true, sanitizeResources: true };
const ignoreRedis = !redisInstalled() && Deno.env.get("CI") !== "true";

/** A room with its host `h` (first in) and member `m`, on `server`. */
async function hostedRoom(server: TestServer, room: string) {
  const h = await TestClient.connect(server.wsUrl, { label: "host" });
  const m = await TestClient.connect(server.wsUrl, { label: "member" });
  const hj = await h.join(room, { name: "Host" });
  const mj = await m.join(room, { name: "Member" });
  await h.next("peer-joined");
  return {
    h,
    m,
    hj,
    mj,
    async [Symbol.asyncDispose]() {
      await h.close();
      await m.close();
    },
  };
}

/** {@linkcode hostedRoom}, locked by its host. */
async function lockedRoom(server: TestServer, room: string) {
  const hosted = await hostedRoom(server, room);
  await lock(hosted.h, [hosted.m], hosted.hj.peerId);
  return hosted;
}

/** `k` knocks on `room` and its host `h` denies the knock. */
async function knockDenied(
  k: TestClient,
  h: TestClient,
  room: string,
): Promise<void> {
  k.send({ type: "join", room });
  const { knockId } = await k.next("knocking");
  await h.next("knock");
  h.send({ type: "deny", knockId });
  await k.nextError("knock-denied");
  await h.next("knock-ended");
}

/** Locks the room from `h` and checks that `others` hear it. */
async function lock(
  h: TestClient,
  others: TestClient[],
  hostId: string,
  locked = true,
): Promise<void> {
  h.send({ type: "lock", locked });
  for (const c of [h, ...others]) {
    assert.deepEqual(await c.next("room"), {
      type: "room",
      host: hostId,
      locked,
    });
  }
}

for (const backend of BACKENDS) {
  const start = (env: TestEnv = {}) => startTestServer({ backend, env });

  Deno.test({
    name:
      `[${backend.name}] the first peer hosts; only the host locks; a newcomer knocks and is admitted`,
    ...SANITIZE,
    async fn() {
      await using server = await start();
      await using room = await hostedRoom(server, "lock-room");
      const { h, m, hj, mj } = room;
      assert.equal(hj.host, hj.peerId);
      assert.equal(hj.locked, false);
      assert.equal(mj.host, hj.peerId, "everyone sees who hosts");

      m.send({ type: "lock", locked: true, ref: 1 });
      assert.equal((await m.nextError("not-host")).ref, 1);
      await lock(h, [m], hj.peerId);

      await using k = await TestClient.connect(server.wsUrl, { label: "k" });
      k.send({ type: "join", room: "lock-room", name: "Knocker", ref: "k1" });
      const knocking = await k.next("knocking");
      assert.equal(knocking.ref, "k1");
      const knock = await h.next("knock");
      assert.deepEqual(knock, {
        type: "knock",
        knockId: knocking.knockId,
        name: "Knocker",
      });
      // Only the host hears knocks; the knocker is nobody's member yet.
      await m.expectNothingElse();
      assert.deepEqual((await server.store.counts()).peers, 2);
      // A member cannot answer it.
      m.send({ type: "admit", knockId: knock.knockId });
      await m.nextError("not-host");

      h.send({ type: "admit", knockId: knock.knockId });
      const kj = await k.next("joined");
      assert.equal(kj.ref, "k1");
      assert.equal(kj.host, hj.peerId);
      assert.equal(kj.locked, true);
      assert.deepEqual(kj.peers.map((p) => p.name), ["Host", "Member"]);
      assert.deepEqual(await h.next("knock-ended"), {
        type: "knock-ended",
        knockId: knock.knockId,
      });
      assert.equal((await h.next("peer-joined")).peerId, kj.peerId);
      assert.equal((await m.next("peer-joined")).peerId, kj.peerId);
    },
  });

  Deno.test({
    name:
      `[${backend.name}] a denied knock, a knock nobody answers, a knocker that gives up, and unlocking lets the waiting in`,
    ...SANITIZE,
    async fn() {
      await using server = await start({ KNOCK_TIMEOUT: "400ms" });
      await using room = await lockedRoom(server, "deny-room");
      const { h } = room;
      await using k = await TestClient.connect(server.wsUrl, { label: "k" });

      k.send({ type: "join", room: "deny-room", name: "K" });
      const first = await k.next("knocking");
      assert.equal((await h.next("knock")).knockId, first.knockId);
      h.send({ type: "deny", knockId: first.knockId });
      await k.nextError("knock-denied");
      assert.equal((await h.next("knock-ended")).knockId, first.knockId);

      // The same socket may knock again; nobody answers this time.
      k.send({ type: "join", room: "deny-room", name: "K" });
      const second = await k.next("knocking");
      assert.equal((await h.next("knock")).knockId, second.knockId);
      const timeout = await k.nextError("knock-timeout");
      assert.match(timeout.message, /Nobody let you in within 400 ms/);
      assert.equal((await h.next("knock-ended")).knockId, second.knockId);
      // An answer after the end changes nothing.
      h.send({ type: "admit", knockId: second.knockId });
      await k.expectNothingElse();

      // A knocker that sends leave gives up; one that closes its socket too.
      k.send({ type: "join", room: "deny-room" });
      const third = await k.next("knocking");
      await h.next("knock");
      k.send({ type: "join", room: "deny-room" });
      await k.nextError("already-joined");
      k.send({ type: "leave" });
      assert.equal((await h.next("knock-ended")).knockId, third.knockId);
      await k.expectNothingElse();
      {
        await using gone = await TestClient.connect(server.wsUrl);
        gone.send({ type: "join", room: "deny-room" });
        const fourth = await gone.next("knocking");
        await h.next("knock");
        await gone.close();
        assert.equal((await h.next("knock-ended")).knockId, fourth.knockId);
      }

      // Unlocking lets in whoever is waiting.
      await using w = await TestClient.connect(server.wsUrl, { label: "w" });
      w.send({ type: "join", room: "deny-room", name: "Waiter" });
      const waiting = await w.next("knocking");
      await h.next("knock");
      h.send({ type: "lock", locked: false });
      assert.equal((await h.next("room")).locked, false);
      const wj = await w.next("joined");
      assert.equal(wj.locked, false);
      assert.equal((await h.next("knock-ended")).knockId, waiting.knockId);
      assert.equal((await h.next("peer-joined")).name, "Waiter");
    },
  });

  Deno.test({
    name:
      `[${backend.name}] a member that drops resumes into the locked room without knocking`,
    ...SANITIZE,
    async fn() {
      await using server = await start();
      const { h, m, hj, mj } = await hostedRoom(server, "resume-room");
      await using _h = h;
      await lock(h, [m], hj.peerId);
      m.socket.close(4000);
      await m.waitClose();
      await using again = await TestClient.connect(server.wsUrl);
      const resumed = await again.join("resume-room", { token: mj.token });
      assert.equal(resumed.resumed, true);
      assert.equal(resumed.peerId, mj.peerId);
      assert.equal(resumed.locked, true);
      assert.equal(resumed.host, hj.peerId);
      // The host drops and resumes too: it is still the host.
      h.socket.close(4000);
      await h.waitClose();
      await using h2 = await TestClient.connect(server.wsUrl);
      const hr = await h2.join("resume-room", { token: hj.token });
      assert.equal(hr.host, hj.peerId);
      h2.send({ type: "lock", locked: false });
      assert.equal((await h2.next("room")).locked, false);
    },
  });

  Deno.test({
    name:
      `[${backend.name}] the host removes a member: closed with 4504, token dead, the others told, and it must knock to come back`,
    ...SANITIZE,
    async fn() {
      await using server = await start();
      await using room = await hostedRoom(server, "remove-room");
      const { h, m, hj, mj } = room;
      await using third = await TestClient.connect(server.wsUrl);
      const tj = await third.join("remove-room", { name: "Third" });
      await h.next("peer-joined");
      await m.next("peer-joined");
      await lock(h, [m, third], hj.peerId);

      third.send({ type: "remove", peerId: mj.peerId, ref: 2 });
      assert.equal((await third.nextError("not-host")).ref, 2);
      h.send({ type: "remove", peerId: hj.peerId });
      await h.nextError("bad-message");
      h.send({ type: "remove", peerId: "nobody-here" });
      await h.nextError("unknown-peer");

      h.send({ type: "remove", peerId: mj.peerId });
      assert.deepEqual(await m.waitClose(), {
        code: CLOSE.removed.code,
        reason: CLOSE.removed.reason,
      });
      for (const c of [h, third]) {
        assert.deepEqual(await c.next("peer-left"), {
          type: "peer-left",
          peerId: mj.peerId,
        });
      }
      assert.deepEqual(
        (await server.store.listPeers("remove-room")).map((p) => p.peerId),
        [hj.peerId, tj.peerId],
      );
      await using back = await TestClient.connect(server.wsUrl);
      back.send({ type: "join", room: "remove-room", token: mj.token });
      await back.nextError("invalid-token");
      back.send({ type: "join", room: "remove-room", name: "Member" });
      await back.next("knocking");
      assert.equal((await h.next("knock")).name, "Member");
    },
  });

  Deno.test({
    name:
      `[${backend.name}] when the host leaves, the member present longest hosts; an emptied room forgets host and lock`,
    ...SANITIZE,
    async fn() {
      await using server = await start();
      const { h, m, hj, mj } = await hostedRoom(server, "handover");
      await using _m = m;
      await using c = await TestClient.connect(server.wsUrl);
      const cj = await c.join("handover", { name: "C" });
      await h.next("peer-joined");
      await m.next("peer-joined");
      await lock(h, [m, c], hj.peerId);
      // The longest-present member is away: the next present one takes it.
      m.socket.close(4000);
      await m.waitClose();
      h.send({ type: "leave" });
      await h.close();
      assert.equal((await c.next("peer-left")).peerId, hj.peerId);
      assert.deepEqual(await c.next("room"), {
        type: "room",
        host: cj.peerId,
        locked: true,
      });
      assert.deepEqual(await server.store.getRoom("handover"), {
        host: cj.peerId,
        locked: true,
      });
      // The away member resumes and sees the new host.
      await using m2 = await TestClient.connect(server.wsUrl);
      const mr = await m2.join("handover", { token: mj.token });
      assert.equal(mr.host, cj.peerId);
      // Its queue held the old host's departure.
      assert.equal((await m2.next("peer-left")).peerId, hj.peerId);
      c.send({ type: "leave" });
      assert.equal((await m2.next("peer-left")).peerId, cj.peerId);
      assert.deepEqual(await m2.next("room"), {
        type: "room",
        host: mj.peerId,
        locked: true,
      });
      m2.send({ type: "leave" });
      await m2.expectNothingElse();
      assert.deepEqual(await server.store.getRoom("handover"), {
        host: null,
        locked: false,
      });
      // The next one in creates it afresh and hosts it.
      await using fresh = await TestClient.connect(server.wsUrl);
      const fj = await fresh.join("handover");
      assert.equal(fj.host, fj.peerId);
      assert.equal(fj.locked, false);
    },
  });

  Deno.test({
    name:
      `[${backend.name}] knock limits: MAX_KNOCKS waiting per room, ROOM_KNOCK_RATE per room, KNOCK_RATE per address, each at its value and one past`,
    ...SANITIZE,
    async fn(t) {
      await t.step("MAX_KNOCKS=2: two wait, the third is refused", async () => {
        await using server = await start({ MAX_KNOCKS: "2" });
        await using room = await lockedRoom(server, "max-knocks");
        const { h } = room;
        const knockers: TestClient[] = [];
        try {
          for (let i = 0; i < 3; i++) {
            const k = await TestClient.connect(server.wsUrl, {
              label: `k${i}`,
            });
            knockers.push(k);
            k.send({ type: "join", room: "max-knocks" });
          }
          await knockers[0].next("knocking");
          await knockers[1].next("knocking");
          const refused = await knockers[2].nextError("rate-limited");
          assert.match(refused.message, /waiting/);
          await h.next("knock");
          await h.next("knock");
          await h.expectNothingElse();
          // Another room is not affected.
          const other = await TestClient.connect(server.wsUrl);
          knockers.push(other);
          await other.join("max-knocks-other");
        } finally {
          for (const k of knockers) await k.close();
        }
      });

      await t.step(
        "ROOM_KNOCK_RATE=3: three knocks a minute, the fourth is refused",
        async () => {
          await using server = await start({ ROOM_KNOCK_RATE: "3" });
          await using room = await lockedRoom(server, "room-rate");
          const { h } = room;
          await using k = await TestClient.connect(server.wsUrl);
          for (let i = 0; i < 3; i++) await knockDenied(k, h, "room-rate");
          k.send({ type: "join", room: "room-rate" });
          const refused = await k.nextError("rate-limited");
          assert.match(refused.message, /too many knocks/);
          await h.expectNothingElse();
        },
      );

      await t.step(
        "KNOCK_RATE=2 per address: the third knock is refused",
        async () => {
          // Loopback is exempt from per-address limits in the other tests.
          await using server = await start({ KNOCK_RATE: "2", EXEMPT_IPS: "" });
          await using room = await lockedRoom(server, "address-rate");
          const { h } = room;
          await using k = await TestClient.connect(server.wsUrl);
          for (let i = 0; i < 2; i++) await knockDenied(k, h, "address-rate");
          k.send({ type: "join", room: "address-rate" });
          const refused = await k.nextError("rate-limited");
          assert.match(refused.message, /your address/);
        },
      );
    },
  });

  Deno.test({
    name:
      `[${backend.name}] bad control messages get bad-message, not-joined or not-host and change nothing`,
    ...SANITIZE,
    async fn() {
      await using server = await start();
      await using lone = await TestClient.connect(server.wsUrl);
      lone.send({ type: "lock", locked: true });
      await lone.nextError("not-joined");
      await using room = await hostedRoom(server, "bad-controls");
      const { h, m, hj } = room;
      for (
        const bad of [
          { type: "lock" },
          { type: "lock", locked: "yes" },
          { type: "admit" },
          { type: "deny", knockId: 7 },
          { type: "remove", peerId: "" },
          { type: "remove", peerId: "x".repeat(65) },
        ]
      ) {
        h.send(bad);
        await h.nextError("bad-message");
      }
      await m.expectNothingElse();
      assert.deepEqual(await server.store.getRoom("bad-controls"), {
        host: hj.peerId,
        locked: false,
      });
    },
  });
}

Deno.test({
  name:
    "two instances on one Redis: the host on A admits a knocker on B, and removes a member on B",
  ignore: ignoreRedis,
  ...SANITIZE,
  async fn() {
    await using redis = await startRedis();
    const servers: TestServer[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const store = await openRedisStore(redis.url);
        servers.push(await startTestServer({ store }));
      }
      const [a, b] = servers;
      await using h = await TestClient.connect(a.wsUrl, { label: "host@A" });
      await using m = await TestClient.connect(b.wsUrl, { label: "member@B" });
      const hj = await h.join("two-instances", { name: "Host" });
      const mj = await m.join("two-instances", { name: "Member" });
      assert.equal(mj.host, hj.peerId);
      await h.next("peer-joined");
      await lock(h, [m], hj.peerId);

      await using k = await TestClient.connect(b.wsUrl, { label: "knocker@B" });
      k.send({ type: "join", room: "two-instances", name: "Knocker" });
      const { knockId } = await k.next("knocking");
      assert.deepEqual(await h.next("knock"), {
        type: "knock",
        knockId,
        name: "Knocker",
      });
      h.send({ type: "admit", knockId });
      const kj: JoinedMsg = await k.next("joined");
      assert.equal(kj.host, hj.peerId);
      assert.equal(kj.locked, true);
      assert.equal((await h.next("knock-ended")).knockId, knockId);
      assert.equal((await h.next("peer-joined")).peerId, kj.peerId);
      assert.equal((await m.next("peer-joined")).peerId, kj.peerId);

      // A knock B holds that A's host denies.
      await using d = await TestClient.connect(b.wsUrl, { label: "denied@B" });
      d.send({ type: "join", room: "two-instances" });
      const denied = await d.next("knocking");
      await h.next("knock");
      h.send({ type: "deny", knockId: denied.knockId });
      await d.nextError("knock-denied");
      await h.next("knock-ended");

      h.send({ type: "remove", peerId: mj.peerId });
      assert.equal((await m.waitClose()).code, CLOSE.removed.code);
      assert.equal((await h.next("peer-left")).peerId, mj.peerId);
      assert.equal((await k.next("peer-left")).peerId, mj.peerId);

      // The host leaves A: the knocker admitted on B hosts now, and B's
      // member hears it through B.
      h.send({ type: "leave" });
      assert.equal((await k.next("peer-left")).peerId, hj.peerId);
      assert.deepEqual(await k.next("room"), {
        type: "room",
        host: kj.peerId,
        locked: true,
      });
      k.send({ type: "lock", locked: false });
      assert.equal((await k.next("room")).locked, false);
    } finally {
      for (const server of servers) await server.close();
    }
  },
});

Deno.test({
  name:
    "the host right and the lock survive a restart of the process on a SQLite file",
  ...SANITIZE,
  async fn() {
    await using dir = await tempDir();
    const env = {
      DATABASE_URL: `file:${join(dir.path, "parley.db")}`,
      RESUME_GRACE: "30s",
    };
    let host = { peerId: "", token: "" };
    let member = { peerId: "", token: "" };
    {
      await using first = await spawnServer({ env });
      await using h = await TestClient.connect(first.wsUrl);
      await using m = await TestClient.connect(first.wsUrl);
      const hj = await h.join("restart-host");
      const mj = await m.join("restart-host");
      await h.next("peer-joined");
      await lock(h, [m], hj.peerId);
      host = hj;
      member = mj;
      first.kill("SIGKILL");
      await first.status;
    }
    await using second = await spawnServer({ env });
    await using m = await TestClient.connect(second.wsUrl);
    const mr = await m.join("restart-host", { token: member.token });
    assert.equal(mr.host, host.peerId);
    assert.equal(mr.locked, true);
    await using k = await TestClient.connect(second.wsUrl);
    k.send({ type: "join", room: "restart-host" });
    await k.next("knocking");
    await using h = await TestClient.connect(second.wsUrl);
    const hr = await h.join("restart-host", { token: host.token });
    assert.equal(hr.host, host.peerId);
    // A knock made while the host was away waits in the host's queue.
    const knock = await h.next("knock");
    h.send({ type: "admit", knockId: knock.knockId });
    const kj = await k.next("joined");
    assert.equal(kj.host, host.peerId);
  },
});

Deno.test({
  name:
    "two instances on one Redis count a room's knocks together: MAX_KNOCKS=1 waiting on A refuses a knock on B until it ends",
  ignore: ignoreRedis,
  ...SANITIZE,
  async fn() {
    await using redis = await startRedis();
    const servers: TestServer[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const store = await openRedisStore(redis.url);
        servers.push(
          await startTestServer({ store, env: { MAX_KNOCKS: "1" } }),
        );
      }
      const [a, b] = servers;
      await using h = await TestClient.connect(a.wsUrl, { label: "host@A" });
      const hj = await h.join("shared-knocks");
      await lock(h, [], hj.peerId);
      await using k1 = await TestClient.connect(a.wsUrl, { label: "k1@A" });
      k1.send({ type: "join", room: "shared-knocks" });
      const first = await k1.next("knocking");
      await h.next("knock");
      await using k2 = await TestClient.connect(b.wsUrl, { label: "k2@B" });
      k2.send({ type: "join", room: "shared-knocks" });
      assert.match((await k2.nextError("rate-limited")).message, /waiting/);
      h.send({ type: "deny", knockId: first.knockId });
      await k1.nextError("knock-denied");
      await h.next("knock-ended");
      k2.send({ type: "join", room: "shared-knocks" });
      await k2.next("knocking");
      await h.next("knock");
    } finally {
      for (const server of servers) await server.close();
    }
  },
});

/**
 * Integration tests of the signaling protocol as `docs/protocol.md` states
 * it: a real server on port 0 and real WebSocket clients. The scenarios run
 * once per storage backend in `BACKENDS`.
 */
import assert from "node:assert/strict";
import { BACKENDS, startTestServer } from "./support/server.ts";
import { joinPeers, TestClient } from "./support/ws_client.ts";
import { handshakeHeaders, rawStatus } from "./support/http.ts";
import { FakeClock } from "./support/wait.ts";
import type { RoomStore } from "../storage/mod.ts";
import { SqliteStore } from "../storage/sqlite_store.ts";

const SANITIZE = { sanitizeOps: true, sanitizeResources: true };

for (const backend of BACKENDS) {
  const on = ` [${backend.name}]`;

  Deno.test({
    name:
      `signal relays offer, answer and candidates to the addressed peer only${on}`,
    ...SANITIZE,
    async fn(t) {
      await using server = await startTestServer({ backend });
      await using ada = await TestClient.connect(server.wsUrl, {
        label: "ada",
      });
      await using grace = await TestClient.connect(server.wsUrl, {
        label: "grace",
      });
      await using carol = await TestClient.connect(server.wsUrl, {
        label: "carol",
      });
      let a = "", g = "", c = "";

      await t.step("join answers joined and tells the others", async () => {
        const aj = await ada.join("standup", { name: "Ada", ref: 1 });
        a = aj.peerId;
        assert.equal(aj.room, "standup");
        assert.equal(aj.resumed, false);
        assert.deepEqual(aj.peers, []);
        assert.equal(aj.ref, 1);
        assert.match(aj.peerId, /^[A-Za-z0-9_-]{22}$/);
        assert.ok(aj.token.startsWith(`${aj.peerId}.`));
        assert.equal(aj.limits.maxRoomSize, 8);
        assert.equal(aj.limits.maxMessageBytes, 65536);
        assert.ok(Array.isArray(aj.iceServers));

        const gj = await grace.join("standup", { name: "Grace", ref: "g" });
        g = gj.peerId;
        assert.equal(gj.ref, "g");
        assert.deepEqual(gj.peers, [{ peerId: a, name: "Ada" }]);
        assert.deepEqual(await ada.next("peer-joined"), {
          type: "peer-joined",
          peerId: g,
          name: "Grace",
        });

        const cj = await carol.join("standup");
        c = cj.peerId;
        assert.deepEqual(
          cj.peers.map((p) => p.peerId).sort(),
          [a, g].sort(),
        );
        assert.equal(cj.peers.find((p) => p.peerId === a)?.name, "Ada");
        for (const client of [ada, grace]) {
          const msg = await client.next("peer-joined");
          assert.deepEqual(msg, { type: "peer-joined", peerId: c, name: "" });
        }
        assert.equal(new Set([a, g, c]).size, 3);
      });

      await t.step("offer and answer reach only their target", async () => {
        const offer = { description: { type: "offer", sdp: "v=0 offer" } };
        ada.signal(g, offer);
        const got = await grace.next("signal");
        assert.equal(got.from, a);
        assert.deepEqual(got.data, offer);

        const answer = { description: { type: "answer", sdp: "v=0 answer" } };
        grace.signal(a, answer);
        const back = await ada.next("signal");
        assert.equal(back.from, g);
        assert.deepEqual(back.data, answer);
      });

      await t.step("candidates arrive in the order sent", async () => {
        for (let i = 0; i < 10; i++) {
          ada.signal(g, { candidate: { candidate: `candidate:${i}` } });
        }
        ada.signal(g, { candidate: null });
        for (let i = 0; i < 10; i++) {
          const msg = await grace.next("signal");
          assert.equal(msg.from, a);
          assert.deepEqual(msg.data, {
            candidate: { candidate: `candidate:${i}` },
          });
        }
        assert.deepEqual((await grace.next("signal")).data, {
          candidate: null,
        });
      });

      await t.step("the third peer got nothing of it", async () => {
        await carol.expectNothingElse();
        await ada.expectNothingElse();
        await grace.expectNothingElse();
      });

      await t.step("the third peer can signal both others", async () => {
        carol.signal(a, { hello: true });
        carol.signal(g, { hello: true });
        assert.equal((await ada.next("signal")).from, c);
        assert.equal((await grace.next("signal")).from, c);
      });
    },
  });

  Deno.test({
    name: `join refuses the peer after MAX_ROOM_SIZE with room-full${on}`,
    ...SANITIZE,
    async fn() {
      await using server = await startTestServer({
        backend,
        env: { MAX_ROOM_SIZE: "2" },
      });
      await using peers = await joinPeers(server.wsUrl, "small", ["a", "b"]);
      await using third = await TestClient.connect(server.wsUrl, {
        label: "third",
      });
      third.send({ type: "join", room: "small", name: "c", ref: 7 });
      const error = await third.nextError("room-full");
      assert.equal(error.ref, 7);
      assert.equal(typeof error.message, "string");
      // The members heard nothing, and the refused socket may join elsewhere.
      for (const client of peers.clients) await client.expectNothingElse();
      const other = await third.join("elsewhere");
      assert.deepEqual(other.peers, []);
      assert.equal(peers.joined[1].limits.maxRoomSize, 2);
    },
  });

  Deno.test({
    name: `leave tells the room peer-left at once and ends the session${on}`,
    ...SANITIZE,
    async fn(t) {
      await using server = await startTestServer({ backend });
      await using peers = await joinPeers(server.wsUrl, "leaving", ["a", "b"]);
      const [a, b] = peers.clients;
      const [idA, idB] = peers.ids;

      await t.step("b gets peer-left as soon as a leaves", async () => {
        a.send({ type: "leave" });
        assert.deepEqual(await b.next("peer-left"), {
          type: "peer-left",
          peerId: idA,
        });
        // a created the room: b, the one left, hosts it now.
        assert.deepEqual(await b.next("room"), {
          type: "room",
          host: idB,
          locked: false,
        });
      });

      await t.step("a's socket stays open and a's token is dead", async () => {
        a.send({ type: "join", room: "leaving", token: peers.joined[0].token });
        await a.nextError("invalid-token");
      });

      await t.step(
        "signals to the departed peer get unknown-peer",
        async () => {
          b.signal(idA, { x: 1 });
          await b.nextError("unknown-peer");
        },
      );

      await t.step("the same socket may join again as a new peer", async () => {
        const again = await a.join("leaving");
        assert.notEqual(again.peerId, idA);
        assert.deepEqual(again.peers, [{ peerId: idB, name: "b" }]);
        assert.equal((await b.next("peer-joined")).peerId, again.peerId);
      });
    },
  });

  Deno.test({
    name: `a dropped peer stays a member until its grace runs out${on}`,
    ...SANITIZE,
    async fn(t) {
      const clock = new FakeClock();
      await using server = await startTestServer({
        backend,
        now: clock.now,
        env: { RESUME_GRACE: "30s", SWEEP_INTERVAL: "100ms" },
      });
      await using peers = await joinPeers(server.wsUrl, "drops", ["a", "b"]);
      const [a, b] = peers.clients;
      const [idA] = peers.ids;

      await t.step("the drop itself tells nobody", async () => {
        await a.close();
        // Signals to the away peer are accepted (queued), not refused.
        b.signal(idA, { n: 1 });
        await server.server.hub.sweep();
        await b.expectNothingElse();
      });

      await t.step("still a member just inside the grace", async () => {
        clock.advance(29_000);
        await server.server.hub.sweep();
        await b.expectNothingElse();
      });

      await t.step("peer-left once the grace has passed", async () => {
        clock.advance(2_000);
        // The sweeper's own interval also runs; either removes it.
        await server.server.hub.sweep();
        assert.deepEqual(await b.next("peer-left"), {
          type: "peer-left",
          peerId: idA,
        });
      });

      await t.step("the expired token is refused", async () => {
        await using again = await TestClient.connect(server.wsUrl);
        again.send({
          type: "join",
          room: "drops",
          token: peers.joined[0].token,
        });
        await again.nextError("invalid-token");
      });
    },
  });

  Deno.test({
    name:
      `the sweeper removes an away peer after RESUME_GRACE on the real clock${on}`,
    ...SANITIZE,
    async fn() {
      await using server = await startTestServer({
        backend,
        env: { RESUME_GRACE: "1s", SWEEP_INTERVAL: "100ms" },
      });
      await using peers = await joinPeers(server.wsUrl, "expiry", ["a", "b"]);
      const [a, b] = peers.clients;
      await a.close();
      assert.deepEqual(await b.next("peer-left"), {
        type: "peer-left",
        peerId: peers.ids[0],
      });
    },
  });

  Deno.test({
    name:
      `join with a token resumes the peer and delivers queued messages in order${on}`,
    ...SANITIZE,
    async fn(t) {
      await using server = await startTestServer({ backend });
      await using peers = await joinPeers(server.wsUrl, "resume", ["a", "b"]);
      const [a, b] = peers.clients;
      const [idA, idB] = peers.ids;
      const token = peers.joined[0].token;
      await using c = await TestClient.connect(server.wsUrl, { label: "c" });
      let idC = "";

      await t.step(
        "while a is away, signals and joins are queued",
        async () => {
          await a.close();
          for (let i = 0; i < 5; i++) b.signal(idA, { seq: i });
          // b's signals are handled before c (another socket) joins.
          await b.expectNothingElse();
          idC = (await c.join("resume", { name: "c" })).peerId;
          assert.equal((await b.next("peer-joined")).peerId, idC);
          c.signal(idA, { from: "c" });
          await b.expectNothingElse();
          await c.expectNothingElse();
        },
      );

      await using back = await TestClient.connect(server.wsUrl, {
        label: "a-again",
      });
      await t.step("resume keeps the peer ID and token", async () => {
        const joined = await back.join("resume", { token, ref: "r" });
        assert.equal(joined.resumed, true);
        assert.equal(joined.peerId, idA);
        assert.equal(joined.token, token);
        assert.equal(joined.ref, "r");
        assert.deepEqual(
          joined.peers.map((p) => p.peerId).sort(),
          [idB, idC].sort(),
        );
      });

      await t.step(
        "the queue arrives in order right after joined",
        async () => {
          for (let i = 0; i < 5; i++) {
            const msg = await back.next("signal");
            assert.equal(msg.from, idB);
            assert.deepEqual(msg.data, { seq: i });
          }
          const joinedNote = await back.next("peer-joined");
          assert.equal(joinedNote.peerId, idC);
          const fromC = await back.next("signal");
          assert.equal(fromC.from, idC);
          assert.deepEqual(fromC.data, { from: "c" });
          await back.expectNothingElse();
        },
      );

      await t.step("the others see no peer-joined for a resume", async () => {
        await b.expectNothingElse();
        await c.expectNothingElse();
      });

      await t.step("signaling works both ways after the resume", async () => {
        back.signal(idB, { after: true });
        assert.equal((await b.next("signal")).from, idA);
        b.signal(idA, { after: true });
        assert.equal((await back.next("signal")).from, idB);
      });
    },
  });

  Deno.test({
    name: `join with a wrong token gets invalid-token${on}`,
    ...SANITIZE,
    async fn(t) {
      await using server = await startTestServer({ backend });
      await using peers = await joinPeers(server.wsUrl, "tokens", ["a"]);
      const { token, peerId } = peers.joined[0];
      await peers.clients[0].close();
      await using other = await joinPeers(server.wsUrl, "other-room", ["x"]);
      const cases: [string, string, string][] = [
        ["a wrong secret", "tokens", `${peerId}.${"A".repeat(43)}`],
        ["an unknown peer", "tokens", `${"B".repeat(22)}.secret`],
        ["no dot", "tokens", "malformed"],
        ["another room", "other-room", token],
        ["a token of another room's peer", "tokens", other.joined[0].token],
      ];
      for (const [what, room, bad] of cases) {
        await t.step(`refused for ${what}`, async () => {
          // A fresh socket each: joins are rate-limited per socket.
          await using probe = await TestClient.connect(server.wsUrl);
          probe.send({ type: "join", room, token: bad, ref: what });
          const error = await probe.nextError("invalid-token");
          assert.equal(error.ref, what);
        });
      }
      await t.step("the right token still works afterwards", async () => {
        await using probe = await TestClient.connect(server.wsUrl);
        const joined = await probe.join("tokens", { token });
        assert.equal(joined.peerId, peerId);
        assert.equal(joined.resumed, true);
      });
    },
  });

  Deno.test({
    name:
      `a second socket resuming a live session closes the first with 4501${on}`,
    ...SANITIZE,
    async fn() {
      await using server = await startTestServer({ backend });
      await using peers = await joinPeers(server.wsUrl, "tabs", ["a", "b"]);
      const [a, b] = peers.clients;
      const [idA, idB] = peers.ids;
      await using tab2 = await TestClient.connect(server.wsUrl, {
        label: "tab2",
      });
      const joined = await tab2.join("tabs", { token: peers.joined[0].token });
      assert.equal(joined.peerId, idA);
      assert.equal(joined.resumed, true);
      assert.deepEqual(await a.waitClose(), { code: 4501, reason: "replaced" });
      b.signal(idA, { to: "tab2" });
      const msg = await tab2.next("signal");
      assert.equal(msg.from, idB);
      await b.expectNothingElse();
    },
  });

  Deno.test({
    name:
      `signal gets unknown-peer for another room's peer or a nonexistent one${on}`,
    ...SANITIZE,
    async fn(t) {
      await using server = await startTestServer({ backend });
      await using one = await joinPeers(server.wsUrl, "room-one", ["a", "b"]);
      await using two = await joinPeers(server.wsUrl, "room-two", ["x"]);
      const [a] = one.clients;
      await t.step("a peer of another room", async () => {
        a.send({ type: "signal", to: two.ids[0], data: { x: 1 }, ref: 3 });
        assert.equal((await a.nextError("unknown-peer")).ref, 3);
        await two.clients[0].expectNothingElse();
      });
      await t.step("a peer that never existed", async () => {
        a.signal("Zm9yZ2VkLXBlZXItaWQtMDA", { x: 1 });
        await a.nextError("unknown-peer");
      });
      await t.step("oneself gets bad-message", async () => {
        a.signal(one.ids[0], { x: 1 });
        await a.nextError("bad-message");
      });
      await t.step("the room still relays", async () => {
        a.signal(one.ids[1], { ok: true });
        assert.equal((await one.clients[1].next("signal")).from, one.ids[0]);
      });
    },
  });

  Deno.test({
    name: `signal stamps the real sender when the client forges from${on}`,
    ...SANITIZE,
    async fn(t) {
      await using server = await startTestServer({ backend });
      await using peers = await joinPeers(server.wsUrl, "forge", [
        "a",
        "b",
        "c",
      ]);
      const [a, b] = peers.clients;
      const [idA, idB, idC] = peers.ids;
      await t.step("a forged from before to", async () => {
        a.send(
          `{"type":"signal","from":${JSON.stringify(idC)},"to":${
            JSON.stringify(idB)
          },"data":{"n":1}}`,
        );
        const msg = await b.next("signal");
        assert.equal(msg.from, idA);
        assert.deepEqual(msg.data, { n: 1 });
        assert.ok(!b.received.at(-1)?.includes(idC), "forged ID relayed");
      });
      await t.step("a forged from at the end", async () => {
        a.send({ type: "signal", to: idB, data: { n: 2 }, from: idC });
        const msg = await b.next("signal");
        assert.equal(msg.from, idA);
        assert.ok(!b.received.at(-1)?.includes(idC), "forged ID relayed");
      });
      await t.step("a from inside data is the sender's business", async () => {
        a.signal(idB, { from: idC });
        const msg = await b.next("signal");
        assert.equal(msg.from, idA);
        assert.deepEqual(msg.data, { from: idC });
      });
      await t.step("c saw nothing", async () => {
        await peers.clients[2].expectNothingElse();
      });
    },
  });

  Deno.test({
    name: `ping and ice-servers are answered with their ref${on}`,
    ...SANITIZE,
    async fn() {
      await using server = await startTestServer({ backend });
      await using client = await TestClient.connect(server.wsUrl);
      client.send({ type: "ping", ref: 17 });
      assert.deepEqual(await client.next("pong"), { type: "pong", ref: 17 });
      client.send({ type: "ping" });
      assert.deepEqual(await client.next("pong"), { type: "pong" });
      client.send({ type: "ice-servers", ref: 4 });
      assert.equal((await client.nextError("not-joined")).ref, 4);
      await client.join("ice");
      client.send({ type: "ice-servers", ref: 5 });
      const ice = await client.next("ice-servers");
      assert.equal(ice.ref, 5);
      assert.ok(Array.isArray(ice.iceServers));
    },
  });

  Deno.test({
    name: `shutdown closes every socket with 4000 restart${on}`,
    ...SANITIZE,
    async fn() {
      const server = await startTestServer({ backend });
      try {
        await using peers = await joinPeers(server.wsUrl, "bye", ["a", "b"]);
        await using idle = await TestClient.connect(server.wsUrl);
        await server.close();
        for (const client of [...peers.clients, idle]) {
          assert.deepEqual(await client.waitClose(), {
            code: 4000,
            reason: "restart",
          });
        }
      } finally {
        await server.close();
      }
    },
  });
}

// ---- HTTP ----

Deno.test({
  name: "GET /health reports status, version, uptime, connections, rooms, db",
  ...SANITIZE,
  async fn() {
    await using server = await startTestServer();
    await using _peers = await joinPeers(server.wsUrl, "health", ["a"]);
    const res = await fetch(`${server.origin}/health`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const body = await res.json();
    assert.equal(body.status, "ok");
    assert.equal(body.db, "ok");
    assert.equal(typeof body.version, "string");
    assert.equal(typeof body.uptimeSec, "number");
    assert.equal(body.connections, 1);
    assert.equal(body.rooms, 1);
  },
});

Deno.test({
  name: "GET /health answers 503 when the store's check() throws",
  ...SANITIZE,
  async fn() {
    const store = failingStore(new SqliteStore(":memory:"));
    await using server = await startTestServer({ store });
    const res = await fetch(`${server.origin}/health`);
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.db, "error");
    assert.notEqual(body.status, "ok");
  },
});

Deno.test({
  name: "GET / and /r/<room> serve the page and unknown paths get 404",
  ...SANITIZE,
  async fn() {
    await using server = await startTestServer();
    for (const path of ["/", "/r/abc", "/r/k3x9-standup_2"]) {
      const res = await fetch(`${server.origin}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type") ?? "", /text\/html/);
      assert.match(await res.text(), /<html/i);
    }
    for (const path of ["/nope", "/r/", "/r/a/b", "/ws/x"]) {
      const res = await fetch(`${server.origin}${path}`);
      await res.body?.cancel();
      assert.equal(res.status, 404, path);
    }
  },
});

Deno.test({
  name: "GET /ws checks the page's Origin",
  ...SANITIZE,
  async fn(t) {
    await t.step("a foreign origin gets 403, the same host 101", async () => {
      await using server = await startTestServer();
      const foreign = handshakeHeaders({ Origin: "https://evil.example" });
      assert.equal(await rawStatus(server.port, { headers: foreign }), 403);
      const same = handshakeHeaders({
        Origin: `http://127.0.0.1:${server.port}`,
      });
      assert.equal(await rawStatus(server.port, { headers: same }), 101);
      const tls = handshakeHeaders({
        Origin: `https://127.0.0.1:${server.port}`,
      });
      assert.equal(await rawStatus(server.port, { headers: tls }), 101);
      const otherPort = handshakeHeaders({ Origin: "http://127.0.0.1:1" });
      assert.equal(await rawStatus(server.port, { headers: otherPort }), 403);
      await using client = await TestClient.connect(server.wsUrl, {
        headers: { Origin: `http://127.0.0.1:${server.port}` },
      });
      await client.join("origin");
    });

    await t.step("ALLOWED_ORIGINS admits exact matches only", async () => {
      await using server = await startTestServer({
        env: { ALLOWED_ORIGINS: "https://app.example,https://b.example:8443" },
      });
      const status = (origin: string) =>
        rawStatus(server.port, {
          headers: handshakeHeaders({ Origin: origin }),
        });
      assert.equal(await status("https://app.example"), 101);
      assert.equal(await status("https://b.example:8443"), 101);
      assert.equal(await status("https://app.example.evil"), 403);
      assert.equal(await status("http://app.example"), 403);
      assert.equal(await status("https://b.example"), 403);
      assert.equal(await status(`http://127.0.0.1:${server.port}`), 403);
    });

    await t.step("ENABLE_CORS admits any origin", async () => {
      await using server = await startTestServer({
        env: { ENABLE_CORS: "true" },
      });
      const headers = handshakeHeaders({ Origin: "https://anything.example" });
      assert.equal(await rawStatus(server.port, { headers }), 101);
    });
  },
});

/** A store whose check() always throws, as when the disk is full. */
function failingStore(store: RoomStore): RoomStore {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key === "check") {
        return () => Promise.reject(new Error("disk I/O error"));
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

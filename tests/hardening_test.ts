/**
 * Abuse limits against a real server, each at exactly the limit and one
 * past it: Origin, sockets and handshakes per address (and who counts as
 * the address behind a proxy), connections per instance, message,
 * candidate and join rates, field sizes, and the slow-consumer bound. A
 * control room keeps signaling throughout and must see nothing of it.
 * Rate limits run on an injected clock, stepped instead of slept.
 */
import assert from "node:assert/strict";
import {
  controlledServer,
  spawnServer,
  startTestServer,
} from "./support/server.ts";
import { ControlRoom, joinPeers, TestClient } from "./support/ws_client.ts";
import { handshakeHeaders } from "./support/http.ts";
import { deadline, eventually, FakeClock } from "./support/wait.ts";
import { rawResponse, RawWebSocket } from "./support/hardening.ts";

const SANITIZE = { sanitizeOps: true, sanitizeResources: true };

/** A peer ID of the right shape that no server handed out. */
const NOBODY = "Tm9ib2R5SG9tZS0xMjM0NTY";

async function statusOf(
  port: number,
  overrides: Record<string, string | null> = {},
): Promise<number | undefined> {
  return (await rawResponse(port, { headers: handshakeHeaders(overrides) }))
    ?.status;
}

async function retryAfterOf(
  port: number,
  overrides: Record<string, string | null> = {},
): Promise<{ status?: number; retryAfter: string | null }> {
  const res = await rawResponse(port, {
    headers: handshakeHeaders(overrides),
  });
  return {
    status: res?.status,
    retryAfter: res?.headers.get("retry-after") ?? null,
  };
}

Deno.test({
  name: "GET /ws admits only exact normalised ALLOWED_ORIGINS",
  ...SANITIZE,
  async fn(t) {
    await using fixture = await controlledServer({
      env: { ALLOWED_ORIGINS: "https://app.example.com" },
    });
    const { server, control } = fixture;

    await t.step(
      "the listed origin, in any spelling of it, is admitted",
      async () => {
        for (
          const origin of [
            "https://app.example.com",
            "https://APP.Example.COM",
            "https://app.example.com:443",
            "https://app.example.com/",
          ]
        ) {
          assert.equal(
            await statusOf(server.port, { Origin: origin }),
            101,
            origin,
          );
        }
        await control.check();
      },
    );

    await t.step("lookalikes get 403", async () => {
      for (
        const origin of [
          "https://app.example.com.evil.net",
          "https://evil-app.example.com",
          "https://sub.app.example.com",
          "https://app.example.com@evil.net",
          "null",
          "",
          "https://app.example.com:8443",
          "http://app.example.com",
          "wss://app.example.com",
          "file://app.example.com",
          "https://app.example.co",
        ]
      ) {
        assert.equal(
          await statusOf(server.port, { Origin: origin }),
          403,
          origin,
        );
      }
      await control.check();
    });

    await t.step("no Origin is allowed by default", async () => {
      assert.equal(await statusOf(server.port, { Origin: null }), 101);
      await control.check();
    });

    await t.step("ALLOW_NO_ORIGIN=false refuses a missing Origin", async () => {
      // ControlRoom cannot send an Origin, so this server has none; the
      // control room above is checked instead.
      await using strict = await startTestServer({
        env: {
          ALLOWED_ORIGINS: "https://app.example.com",
          ALLOW_NO_ORIGIN: "false",
        },
      });
      assert.equal(await statusOf(strict.port, { Origin: null }), 403);
      assert.equal(
        await statusOf(strict.port, { Origin: "https://app.example.com" }),
        101,
      );
      await using client = await TestClient.connect(strict.wsUrl, {
        headers: { Origin: "https://app.example.com" },
      });
      await client.join("strict-origin");
      await control.check();
    });
  },
});

Deno.test({
  name: "MAX_CONNECTIONS_PER_IP refuses the socket past the limit with 429",
  ...SANITIZE,
  async fn(t) {
    await using server = await startTestServer({
      env: {
        EXEMPT_IPS: "",
        MAX_CONNECTIONS_PER_IP: "5",
        HANDSHAKE_RATE: "1000",
      },
    });
    // The control room holds two of the address's five sockets.
    await using control = await ControlRoom.open(server.wsUrl);
    await control.check();
    const clients: TestClient[] = [];
    try {
      await t.step("three more sockets reach the limit", async () => {
        for (let i = 0; i < 3; i++) {
          clients.push(
            await TestClient.connect(server.wsUrl, { label: `s${i}` }),
          );
        }
        await control.check();
      });

      await t.step("one more gets 429 with Retry-After", async () => {
        const refused = await retryAfterOf(server.port);
        assert.equal(refused.status, 429);
        assert.ok(Number(refused.retryAfter) >= 1, `${refused.retryAfter}`);
        await control.check();
      });

      await t.step("closing one socket frees its slot", async () => {
        await clients.shift()?.close();
        const again = await eventually(
          async () => {
            try {
              return await TestClient.connect(server.wsUrl, { label: "again" });
            } catch {
              return undefined;
            }
          },
          "a slot freed by a close",
        );
        clients.push(again);
        assert.equal(await statusOf(server.port), 429);
        await control.check();
      });
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  },
});

Deno.test({
  name: "HANDSHAKE_RATE refuses handshakes past its burst with 429",
  ...SANITIZE,
  async fn(t) {
    const clock = new FakeClock();
    await using fixture = await controlledServer({
      now: clock.now,
      env: { EXEMPT_IPS: "", HANDSHAKE_RATE: "2", JOIN_RATE: "1000" },
    });
    const { server, control } = fixture;
    // Refill what the control room spent: a burst of 2 × 2 = 4.
    clock.advance(60_000);

    await t.step("the burst of twice the rate passes", async () => {
      for (let i = 0; i < 4; i++) {
        assert.equal(await statusOf(server.port), 101, `handshake ${i + 1}`);
      }
      await control.check();
    });

    await t.step("the next one gets 429 with Retry-After", async () => {
      const refused = await retryAfterOf(server.port);
      assert.deepEqual(refused, { status: 429, retryAfter: "1" });
      await control.check();
    });

    await t.step(
      "half a second later one more passes, and only one",
      async () => {
        clock.advance(500);
        assert.equal(await statusOf(server.port), 101);
        assert.equal(await statusOf(server.port), 429);
        await control.check();
      },
    );
  },
});

Deno.test({
  name:
    "X-Forwarded-For names the client only when it comes from TRUSTED_PROXIES",
  ...SANITIZE,
  async fn(t) {
    await t.step(
      "from a trusted proxy, each address has its own budget",
      async () => {
        await using server = await startTestServer({
          env: {
            EXEMPT_IPS: "",
            TRUSTED_PROXIES: "127.0.0.1",
            MAX_CONNECTIONS_PER_IP: "2",
            HANDSHAKE_RATE: "1000",
          },
        });
        // Without the header the proxy itself is the client: the control
        // room takes both of 127.0.0.1's sockets.
        await using control = await ControlRoom.open(server.wsUrl);
        await control.check();
        const xff = (value: string) => ({ "X-Forwarded-For": value });
        const held: TestClient[] = [];
        try {
          for (const ip of ["198.51.100.1", "198.51.100.2"]) {
            for (let i = 0; i < 2; i++) {
              held.push(
                await TestClient.connect(server.wsUrl, { headers: xff(ip) }),
              );
            }
            assert.equal(
              await statusOf(server.port, xff(ip)),
              429,
              `third socket of ${ip}`,
            );
          }
          // The rightmost address that is not a trusted proxy counts.
          held.push(
            await TestClient.connect(server.wsUrl, {
              headers: xff("203.0.113.9, 127.0.0.1"),
            }),
          );
          assert.equal(await statusOf(server.port, xff("203.0.113.9")), 101);
          assert.equal(await statusOf(server.port), 429, "the proxy itself");
          await control.check();
        } finally {
          await Promise.all(held.map((c) => c.close()));
        }
      },
    );

    await t.step("from anyone else, the header is ignored", async () => {
      await using fixture = await controlledServer({
        env: {
          EXEMPT_IPS: "",
          MAX_CONNECTIONS_PER_IP: "3",
          HANDSHAKE_RATE: "1000",
        },
      });
      const { server, control } = fixture;
      await using one = await TestClient.connect(server.wsUrl, {
        headers: { "X-Forwarded-For": "198.51.100.1" },
      });
      assert.equal(
        await statusOf(server.port, { "X-Forwarded-For": "198.51.100.2" }),
        429,
      );
      await one.close();
      await control.check();
    });
  },
});

Deno.test({
  name: "MAX_CONNECTIONS refuses the socket past the limit with 503",
  ...SANITIZE,
  async fn(t) {
    await using fixture = await controlledServer({
      env: { MAX_CONNECTIONS: "3" },
    });
    const { server, control } = fixture;
    await using third = await TestClient.connect(server.wsUrl);

    await t.step("the fourth socket gets 503 with Retry-After", async () => {
      const refused = await retryAfterOf(server.port);
      assert.equal(refused.status, 503);
      assert.ok(Number(refused.retryAfter) >= 1, `${refused.retryAfter}`);
      await control.check();
    });

    await t.step("a closed socket frees its place", async () => {
      await third.close();
      await eventually(
        () => server.server.hub.snapshot().connections === 2,
        "the server to forget the closed socket",
      );
      await using fourth = await TestClient.connect(server.wsUrl);
      await fourth.join("fourth");
      await control.check();
    });
  },
});

Deno.test({
  name: "a handshake during the shutdown drain gets 503 with Retry-After",
  ...SANITIZE,
  async fn() {
    await using server = await spawnServer();
    await using control = await ControlRoom.open(server.wsUrl);
    await control.check();
    // A client that never answers the close frame keeps the drain open for
    // its two seconds.
    using stubborn = await RawWebSocket.open(server.port);
    await using watcher = await TestClient.connect(server.wsUrl);
    server.kill("SIGTERM");
    // Once a client is told 4000 the hub is draining.
    assert.equal((await watcher.waitClose()).code, 4000);
    const refused = await retryAfterOf(server.port);
    assert.equal(refused.status, 503);
    assert.equal(refused.retryAfter, "2");
    const end = await stubborn.waitEnd();
    assert.equal(end.code, 4000);
    assert.equal((await deadline(server.status, "exit")).code, 0);
  },
});

Deno.test({
  name:
    "MESSAGE_RATE refuses past MESSAGE_BURST and closes 4503 after 50 refusals",
  ...SANITIZE,
  async fn(t) {
    const clock = new FakeClock();
    await using server = await startTestServer({
      now: clock.now,
      env: {
        MESSAGE_RATE: "10",
        MESSAGE_BURST: "20",
        CANDIDATE_BURST: "10",
        JOIN_TIMEOUT: "60s",
      },
    });
    await using control = await ControlRoom.open(server.wsUrl);
    // The control room's own buckets refill before each check.
    const check = () => {
      clock.advance(60_000);
      return control.check();
    };
    await check();
    await using client = await TestClient.connect(server.wsUrl);

    await t.step("exactly MESSAGE_BURST messages pass at once", async () => {
      for (let i = 0; i < 20; i++) client.send({ type: "ping", ref: i });
      for (let i = 0; i < 20; i++) {
        assert.equal((await client.next("pong")).ref, i);
      }
    });

    await t.step("the next one is refused with rate-limited", async () => {
      client.send({ type: "ping", ref: "over" });
      await client.nextError("rate-limited");
    });

    await t.step("49 refusals in a row leave the socket open", async () => {
      for (let i = 0; i < 48; i++) client.send({ type: "ping" });
      for (let i = 0; i < 48; i++) await client.nextError("rate-limited");
      // One token later (1/MESSAGE_RATE s) a message passes again and the
      // streak starts over.
      clock.advance(100);
      client.send({ type: "ping", ref: "ok" });
      assert.equal((await client.next("pong")).ref, "ok");
      assert.equal(client.isClosed, false);
    });

    await t.step("the 50th refusal in a row closes 4503", async () => {
      for (let i = 0; i < 50; i++) client.send({ type: "ping" });
      for (let i = 0; i < 50; i++) await client.nextError("rate-limited");
      assert.deepEqual(await client.waitClose(), {
        code: 4503,
        reason: "rate-limited",
      });
      await check();
    });

    await t.step(
      "CANDIDATE_BURST candidates pass, one more is refused",
      async () => {
        await using pair = await joinPeers(server.wsUrl, "trickle", ["s", "r"]);
        clock.advance(60_000);
        const [sender, receiver] = pair.clients;
        const candidate = (i: number) => ({
          candidate: {
            candidate: `candidate:${i} 1 udp 2122260223 10.0.0.1 ${i} typ host`,
          },
        });
        for (let i = 0; i < 11; i++) sender.signal(pair.ids[1], candidate(i));
        for (let i = 0; i < 10; i++) {
          assert.deepEqual((await receiver.next("signal")).data, candidate(i));
        }
        await sender.nextError("rate-limited");
        // Other signals are not candidates and still pass.
        sender.signal(pair.ids[1], {
          description: { type: "offer", sdp: "v=0" },
        });
        assert.equal((await receiver.next("signal")).from, pair.ids[0]);
        // Candidates refill at a tenth of the burst per second: one.
        clock.advance(1000);
        sender.signal(pair.ids[1], candidate(11));
        sender.signal(pair.ids[1], candidate(12));
        assert.deepEqual((await receiver.next("signal")).data, candidate(11));
        await sender.nextError("rate-limited");
        await receiver.expectNothingElse();
        await check();
      },
    );
  },
});

Deno.test({
  name:
    "a message refused by MESSAGE_RATE is not read, so its rate-limited error has no ref (docs/protocol.md)",
  ...SANITIZE,
  async fn() {
    const clock = new FakeClock();
    await using server = await startTestServer({
      now: clock.now,
      env: { MESSAGE_BURST: "1" },
    });
    await using client = await TestClient.connect(server.wsUrl);
    client.send({ type: "ping", ref: 1 });
    assert.equal((await client.next("pong")).ref, 1);
    client.send({ type: "ping", ref: 2 });
    const error = await client.nextError("rate-limited");
    // A flood is refused before JSON.parse: the server never reads its ref.
    assert.equal(error.ref, undefined);
    // The next message within the rate is read and answered as usual.
    clock.advance(1000);
    client.send({ type: "ping", ref: 3 });
    assert.equal((await client.next("pong")).ref, 3);
  },
});

Deno.test({
  name: "an ICE trickle of 40 candidates in one burst passes with the defaults",
  ...SANITIZE,
  async fn() {
    await using fixture = await controlledServer();
    const { server, control } = fixture;
    await using pair = await joinPeers(server.wsUrl, "trickle", ["s", "r"]);
    const [sender, receiver] = pair.clients;
    sender.signal(pair.ids[1], { description: { type: "offer", sdp: "v=0" } });
    for (let i = 0; i < 40; i++) {
      sender.signal(pair.ids[1], {
        candidate: {
          candidate: `candidate:${i} 1 udp 2122260223 10.0.0.1 ${i} typ host`,
        },
      });
    }
    sender.signal(pair.ids[1], { candidate: null });
    for (let i = 0; i < 42; i++) await receiver.next("signal");
    await sender.expectNothingElse();
    await receiver.expectNothingElse();
    await control.check();
  },
});

Deno.test({
  name: "join and signal fields are checked at exactly their limits",
  ...SANITIZE,
  async fn(t) {
    await using fixture = await controlledServer();
    const { server, control } = fixture;

    await t.step(
      "room IDs: 64 characters join, 65 or other characters do not",
      async () => {
        await using client = await TestClient.connect(server.wsUrl);
        for (
          const room of ["b".repeat(65), "a.b", "ä", "a b", "a\u0000", "%41"]
        ) {
          client.send({ type: "join", room });
          await client.nextError("invalid-room");
        }
        const room = "a".repeat(64);
        assert.equal((await client.join(room)).room, room);
        await control.check();
      },
    );

    await t.step(
      "names: 64 characters join, 65 or control characters do not",
      async () => {
        await using client = await TestClient.connect(server.wsUrl);
        for (
          const name of [
            "n".repeat(65),
            "a\u0000",
            "a\u001f",
            "a\u007f",
            "a\u0085",
            "a\u2028",
            "a\tb",
          ]
        ) {
          client.send({ type: "join", room: "names", name });
          await client.nextError("invalid-name");
        }
        const name = "é".repeat(64);
        const joined = await client.join("names", { name });
        assert.equal(joined.peerId.length, 22);
        await control.check();
      },
    );

    await t.step(
      "SDP: MAX_SDP_SIZE bytes relay, one more is too-large",
      async () => {
        await using pair = await joinPeers(server.wsUrl, "sdp", ["s", "r"]);
        const [sender, receiver] = pair.clients;
        const sdpOf = (bytes: number) => ({
          description: { type: "offer", sdp: "v".repeat(bytes) },
        });
        sender.signal(pair.ids[1], sdpOf(32768));
        assert.deepEqual((await receiver.next("signal")).data, sdpOf(32768));
        sender.signal(pair.ids[1], sdpOf(32769));
        await sender.nextError("too-large");
        // Bytes, not characters: 16384 two-byte characters fit, one more not.
        const wide = (n: number) => ({
          description: { type: "offer", sdp: "é".repeat(n) },
        });
        sender.signal(pair.ids[1], wide(16384));
        assert.deepEqual((await receiver.next("signal")).data, wide(16384));
        sender.signal(pair.ids[1], wide(16385));
        await sender.nextError("too-large");
        await receiver.expectNothingElse();
        await control.check();
      },
    );

    await t.step(
      "candidates: MAX_CANDIDATE_SIZE bytes relay, one more is too-large",
      async () => {
        await using pair = await joinPeers(server.wsUrl, "cand", ["s", "r"]);
        const [sender, receiver] = pair.clients;
        const candidateOf = (bytes: number) => ({
          candidate: { candidate: "c".repeat(bytes), sdpMid: "0" },
        });
        sender.signal(pair.ids[1], candidateOf(1024));
        assert.deepEqual(
          (await receiver.next("signal")).data,
          candidateOf(1024),
        );
        sender.signal(pair.ids[1], candidateOf(1025));
        await sender.nextError("too-large");
        await receiver.expectNothingElse();
        await control.check();
      },
    );
  },
});

Deno.test({
  name:
    "join attempts are limited per socket (5, then 1 per 2 s) and per address (JOIN_RATE)",
  ...SANITIZE,
  async fn(t) {
    const clock = new FakeClock();
    const badToken = `${NOBODY}.c2VjcmV0`;

    await t.step("per socket", async () => {
      await using fixture = await controlledServer({ now: clock.now });
      const { server, control } = fixture;
      await using client = await TestClient.connect(server.wsUrl);
      for (let i = 0; i < 5; i++) {
        client.send({ type: "join", room: "joins", token: badToken });
        await client.nextError("invalid-token");
      }
      client.send({ type: "join", room: "joins", token: badToken, ref: 6 });
      assert.equal((await client.nextError("rate-limited")).ref, 6);
      clock.advance(2000);
      client.send({ type: "join", room: "joins", token: badToken });
      await client.nextError("invalid-token");
      client.send({ type: "join", room: "joins" });
      await client.nextError("rate-limited");
      clock.advance(2000);
      await client.join("joins");
      clock.advance(60_000);
      await control.check();
    });

    await t.step("per address", async () => {
      await using fixture = await controlledServer({
        now: clock.now,
        env: { EXEMPT_IPS: "", JOIN_RATE: "2" },
      });
      const { server, control } = fixture;
      clock.advance(60_000);
      // A burst of 2 × 2 = 4 joins from the address, spread over sockets.
      await using a = await TestClient.connect(server.wsUrl, { label: "a" });
      await using b = await TestClient.connect(server.wsUrl, { label: "b" });
      for (let i = 0; i < 3; i++) {
        a.send({ type: "join", room: "ip-joins", token: badToken });
        await a.nextError("invalid-token");
      }
      await b.join("ip-joins");
      // b's own bucket is full, the address's is empty.
      a.send({ type: "join", room: "ip-joins" });
      await a.nextError("rate-limited");
      clock.advance(500);
      await a.join("ip-joins");
      await b.next("peer-joined");
      clock.advance(60_000);
      await control.check();
    });
  },
});

Deno.test({
  name: "a peer that stops reading is closed with 4002 and becomes away",
  ...SANITIZE,
  async fn() {
    await using fixture = await controlledServer({
      env: {
        MAX_BUFFERED: "64KiB",
        MESSAGE_RATE: "100000",
        MESSAGE_BURST: "100000",
        RESUME_GRACE: "1s",
        SWEEP_INTERVAL: "100ms",
        QUEUE_LIMIT: "100000",
      },
    });
    const { server, control } = fixture;
    using slow = await RawWebSocket.open(server.port);
    await slow.send({ type: "join", room: "slow" });
    const joined = await slow.next();
    assert.equal(joined.type, "joined");
    const slowId = joined.peerId as string;
    await using sender = await TestClient.connect(server.wsUrl);
    await sender.join("slow");
    const hub = server.server.hub;
    const before = hub.snapshot().connections;
    // 60 KB signals until the server gives up on the reader; bounded.
    const pad = "x".repeat(60_000);
    let sent = 0;
    while (hub.snapshot().connections === before && sent < 2000) {
      for (let i = 0; i < 20; i++) sender.signal(slowId, { pad, n: sent++ });
      await sender.expectNothingElse();
    }
    console.log(
      `slow consumer: closed after ${sent} signals of 60 KB (${
        (sent * 60_000 / 1048576).toFixed(1)
      } MiB)`,
    );
    assert.equal(hub.snapshot().connections, before - 1, "slow socket closed");
    await control.check();
    // The others see it as away, and then gone once the grace runs out.
    assert.deepEqual(await sender.next("peer-left", 5000), {
      type: "peer-left",
      peerId: slowId,
    });
    const end = await slow.waitEnd(20_000);
    console.log(
      `slow consumer: read ${end.texts} frames, close code ${end.code}`,
    );
    assert.equal(end.code, 4002);
    await control.check();
  },
});

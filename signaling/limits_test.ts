import assert from "node:assert/strict";
import { clientAddress, ClientLimiter, TokenBucket } from "./limits.ts";

function clock(start = 0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

Deno.test("TokenBucket.take() allows exactly the burst, then refills at the rate", () => {
  const c = clock();
  const bucket = new TokenBucket(10, 5, c.now);
  for (let i = 0; i < 5; i++) assert.ok(bucket.take(), `take ${i}`);
  assert.equal(bucket.take(), false, "burst + 1 is refused");
  assert.equal(bucket.waitSec(), 0.1);
  c.advance(99);
  assert.equal(bucket.take(), false);
  c.advance(1);
  assert.ok(bucket.take(), "one token after 100 ms at 10/s");
  c.advance(10_000);
  assert.ok(bucket.full, "refill stops at the burst");
});

Deno.test("ClientLimiter.admit() holds an address to its socket cap and releases once", () => {
  const c = clock();
  const limiter = new ClientLimiter({
    maxSocketsPerIp: 3,
    handshakesPerSec: 100,
    now: c.now,
  });
  const held = [];
  for (let i = 0; i < 3; i++) {
    const admitted = limiter.admit("192.0.2.1");
    assert.ok("release" in admitted, `socket ${i} (limit) admitted`);
    held.push(admitted);
  }
  const refused = limiter.admit("192.0.2.1");
  assert.deepEqual(refused, { reason: "sockets", retryAfterSec: 5 });
  assert.ok(
    "release" in limiter.admit("192.0.2.2"),
    "other addresses unaffected",
  );
  held[0].release();
  held[0].release(); // idempotent: frees one slot, not two
  assert.ok("release" in limiter.admit("192.0.2.1"));
  assert.ok("reason" in limiter.admit("192.0.2.1"));
});

Deno.test("ClientLimiter.admit() refuses handshakes past twice the rate, with Retry-After", () => {
  const c = clock();
  const limiter = new ClientLimiter({
    maxSocketsPerIp: 1000,
    handshakesPerSec: 2,
    now: c.now,
  });
  for (let i = 0; i < 4; i++) {
    assert.ok("release" in limiter.admit("198.51.100.7"), `handshake ${i}`);
  }
  const refused = limiter.admit("198.51.100.7");
  assert.deepEqual(refused, { reason: "handshakes", retryAfterSec: 1 });
  c.advance(500);
  assert.ok("release" in limiter.admit("198.51.100.7"));
});

Deno.test("ClientLimiter exempts listed addresses and prunes idle ones", () => {
  const c = clock();
  const limiter = new ClientLimiter({
    maxSocketsPerIp: 1,
    handshakesPerSec: 1,
    joinsPerSec: 1,
    exempt: ["127.0.0.1"],
    now: c.now,
  });
  for (let i = 0; i < 50; i++) {
    assert.ok("release" in limiter.admit("127.0.0.1"));
    assert.ok(limiter.allowJoin("127.0.0.1"));
  }
  assert.equal(limiter.size, 0, "exempt addresses are not tracked");
  const a = limiter.admit("203.0.113.9");
  assert.ok("release" in a);
  assert.ok(limiter.allowJoin("203.0.113.9"));
  assert.ok(limiter.allowJoin("203.0.113.9"));
  assert.equal(limiter.allowJoin("203.0.113.9"), false, "join burst is 2");
  limiter.prune();
  assert.equal(limiter.size, 1, "an address with a socket stays");
  a.release();
  c.advance(10_000);
  limiter.prune();
  assert.equal(limiter.size, 0);
});

Deno.test("clientAddress() believes X-Forwarded-For only from trusted proxies", () => {
  const req = new Request("http://x/ws", {
    headers: { "x-forwarded-for": "203.0.113.5, 10.0.0.2" },
  });
  const none = new Set<string>();
  const proxies = new Set(["127.0.0.1", "10.0.0.2"]);
  assert.equal(clientAddress(req, "127.0.0.1", none), "127.0.0.1");
  assert.equal(clientAddress(req, "192.0.2.50", proxies), "192.0.2.50");
  assert.equal(clientAddress(req, "127.0.0.1", proxies), "203.0.113.5");
  assert.equal(
    clientAddress(new Request("http://x/ws"), "127.0.0.1", proxies),
    "127.0.0.1",
  );
});

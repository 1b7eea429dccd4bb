import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { ConfigError, parseArgs } from "./config.ts";
import { createIceServers, turnCredential } from "./ice_servers.ts";

const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);

function iceConfig(env: Record<string, string>) {
  return parseArgs(env).config;
}

Deno.test("turnCredential() matches the TURN REST scheme coturn checks", () => {
  // Computed independently: RFC 2104 HMAC-SHA1 over "<expiry>:<user>",
  // base64, as in draft-uberti-behave-turn-rest-00 section 2.2.
  const secret = "north-wind";
  const expiry = 1764000000;
  const username = `${expiry}:peerA`;
  const expected = createHmac("sha1", secret).update(username).digest(
    "base64",
  );
  assert.deepEqual(turnCredential(secret, "peerA", expiry), {
    username,
    credential: expected,
  });
  // A known vector computed with Python's hmac module, so a change of
  // algorithm cannot hide behind the same library call on both sides.
  assert.equal(
    turnCredential("secret", "user", 1).credential,
    createHmac("sha1", "secret").update("1:user").digest("base64"),
  );
  assert.equal(
    turnCredential("secret", "user", 1).credential,
    "2bAU+Ug5rOCG/OSDF/Vya99JHNs=",
  );
});

Deno.test("createIceServers() mints per-peer TURN credentials that expire after TURN_TTL", () => {
  const ice = createIceServers(
    iceConfig({
      STUN_URLS: "stun:stun.example.com:3478",
      TURN_URLS:
        "turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349",
      TURN_SECRET: "s3cret",
      TURN_TTL: "10m",
    }),
    { now: () => NOW },
  );
  const list = ice("peer1");
  assert.equal(list.ttlMs, 600_000);
  assert.deepEqual(list.iceServers[0], {
    urls: ["stun:stun.example.com:3478"],
  });
  const turn = list.iceServers[1];
  assert.deepEqual(turn.urls, [
    "turn:turn.example.com:3478?transport=udp",
    "turns:turn.example.com:5349",
  ]);
  const expiry = Math.floor(NOW / 1000) + 600;
  assert.equal(turn.username, `${expiry}:peer1`);
  assert.equal(
    turn.credential,
    createHmac("sha1", "s3cret").update(`${expiry}:peer1`).digest("base64"),
  );
  // Another peer gets its own credential; the secret is never in the list.
  assert.notEqual(ice("peer2").iceServers[1].credential, turn.credential);
  assert.ok(!JSON.stringify(list).includes("s3cret"));
});

Deno.test("createIceServers() hands out static TURN credentials and STUN as configured", () => {
  const list = createIceServers(iceConfig({
    STUN_URLS: "",
    TURN_URLS: "turn:t.example.com",
    TURN_USERNAME: "u",
    TURN_CREDENTIAL: "p",
  }))("x");
  assert.deepEqual(list, {
    iceServers: [{
      urls: ["turn:t.example.com"],
      username: "u",
      credential: "p",
    }],
  });
  assert.deepEqual(createIceServers(iceConfig({ STUN_URLS: "" }))("x"), {
    iceServers: [],
  });
  assert.deepEqual(
    createIceServers(iceConfig({}))("x").iceServers,
    [{ urls: ["stun:stun.l.google.com:19302"] }],
  );
});

Deno.test("createIceServers() passes ICE_SERVERS through and copies it per call", () => {
  const json = JSON.stringify([
    { urls: "stun:a.example.com" },
    { urls: ["turn:b.example.com"], username: "u", credential: "c" },
  ]);
  const ice = createIceServers(iceConfig({ ICE_SERVERS: json }));
  const first = ice("x");
  assert.deepEqual(first.iceServers, JSON.parse(json));
  first.iceServers[0].urls = "stun:changed";
  assert.equal(ice("y").iceServers[0].urls, "stun:a.example.com");
});

Deno.test("parseArgs() refuses ICE configurations that cannot work, without echoing secrets", async (t) => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ["bad STUN scheme", { STUN_URLS: "http://x" }, /STUN_URLS.*stun:/],
    [
      "bad TURN scheme",
      { TURN_URLS: "stun:x", TURN_SECRET: "k" },
      /TURN_URLS.*turn:/,
    ],
    ["TURN without credentials", { TURN_URLS: "turn:x" }, /needs TURN_SECRET/],
    ["secret without TURN", { TURN_SECRET: "hush" }, /TURN_URLS is empty/],
    [
      "username without password",
      { TURN_URLS: "turn:x", TURN_USERNAME: "u" },
      /go together/,
    ],
    ["secret and static", {
      TURN_URLS: "turn:x",
      TURN_SECRET: "hush",
      TURN_USERNAME: "u",
      TURN_CREDENTIAL: "p",
    }, /not both/],
    ["ICE_SERVERS not JSON", { ICE_SERVERS: "[{" }, /ICE_SERVERS.*JSON/],
    ["ICE_SERVERS not a list", { ICE_SERVERS: "{}" }, /array/],
    [
      "ICE_SERVERS bad URL",
      { ICE_SERVERS: '[{"urls":"http://x"}]' },
      /not a stun/,
    ],
    [
      "ICE_SERVERS TURN without auth",
      { ICE_SERVERS: '[{"urls":"turn:x"}]' },
      /username/,
    ],
    ["TURN_TTL without unit", {
      TURN_URLS: "turn:x",
      TURN_SECRET: "k",
      TURN_TTL: "3600",
    }, /TURN_TTL/],
  ];
  for (const [name, env, pattern] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseArgs(env), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, pattern);
        assert.ok(!error.message.includes("hush"), "secret in message");
        return true;
      });
    });
  }
});

import assert from "node:assert/strict";
import { newToken, randomId, secretMatches, splitToken } from "./ids.ts";

Deno.test("randomId() returns 22 base64url characters, different each time", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = randomId();
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 1000);
});

Deno.test("newToken() returns peerId.secret and a hash that only its secret matches", () => {
  const peerId = randomId();
  const { token, hash } = newToken(peerId);
  assert.ok(token.startsWith(`${peerId}.`));
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.ok(!hash.includes(token.split(".")[1]), "hash is not the secret");
  const parts = splitToken(token);
  assert.deepEqual(parts?.peerId, peerId);
  assert.equal(secretMatches(parts?.secret ?? "", hash), true);
  assert.equal(secretMatches(`${parts?.secret}x`, hash), false);
  assert.equal(secretMatches("", hash), false);
  assert.notEqual(newToken(peerId).token, token);
});

Deno.test("secretMatches() is false for a malformed stored hash", () => {
  assert.equal(secretMatches("secret", ""), false);
  assert.equal(secretMatches("secret", "zz"), false);
  assert.equal(secretMatches("secret", "ab".repeat(31)), false);
});

Deno.test("splitToken() returns undefined when there is no peer ID or secret", () => {
  assert.equal(splitToken(""), undefined);
  assert.equal(splitToken("nodot"), undefined);
  assert.equal(splitToken(".secret"), undefined);
  assert.equal(splitToken("peer."), undefined);
  assert.deepEqual(splitToken("p.s.t"), { peerId: "p", secret: "s.t" });
});

import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import {
  checkProof,
  codeInput,
  createSecret,
  fingerprintFromSdp,
  fingerprintsFromStats,
  normalizeFingerprint,
  proofOf,
  safetyCode,
  secretFragment,
  secretFromFragment,
} from "./safety_code.ts";

const A =
  "sha-256 11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00";
const B =
  "sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

/** The spec of the code, computed with node:crypto instead of WebCrypto. */
function nodeCode(a: string, b: string): string {
  const [x, y] = [a, b].sort();
  const digest = createHash("sha256").update(
    `parley-safety-code-v1\n${x}\n${y}`,
  ).digest();
  const n = digest.readBigUInt64BE(0) % 10n ** 12n;
  return n.toString().padStart(12, "0").replace(/(\d{3})(?=\d)/g, "$1 ");
}

function randomFingerprint(): string {
  return `sha-256 ${
    [...randomBytes(32)].map((b) => b.toString(16).padStart(2, "0"))
      .join(":").toUpperCase()
  }`;
}

Deno.test("safetyCode() gives the code openssl computed for fixed fingerprints", async () => {
  // printf 'parley-safety-code-v1\n<A>\n<B>' | openssl dgst -sha256: the
  // first 16 hex digits, as a number, modulo 10^12.
  assert.equal(await safetyCode(A, B), "688 317 312 866");
});

Deno.test("safetyCode() is the same in either order and matches node:crypto", async () => {
  for (let i = 0; i < 20; i++) {
    const x = randomFingerprint();
    const y = randomFingerprint();
    const code = await safetyCode(x, y);
    assert.equal(code, await safetyCode(y, x));
    assert.equal(code, nodeCode(x, y));
    assert.match(code, /^\d{3} \d{3} \d{3} \d{3}$/);
  }
});

Deno.test("safetyCode() differs when a man in the middle swaps one certificate", async () => {
  const mitm = randomFingerprint();
  assert.notEqual(await safetyCode(A, mitm), await safetyCode(A, B));
  assert.notEqual(await safetyCode(A, mitm), await safetyCode(mitm, B));
});

Deno.test("codeInput() sorts the fingerprints", () => {
  assert.equal(codeInput(B, A), codeInput(A, B));
  assert.equal(codeInput(A, B), `parley-safety-code-v1\n${A}\n${B}`);
});

Deno.test("normalizeFingerprint() agrees across SDP and getStats spellings", () => {
  const lower = B.slice("sha-256 ".length).toLowerCase();
  assert.equal(normalizeFingerprint("SHA-256", lower), B);
  assert.equal(normalizeFingerprint("sha-256", "nothex"), undefined);
  assert.equal(normalizeFingerprint("bad alg!", lower), undefined);
});

Deno.test("fingerprintFromSdp() reads the first a=fingerprint", () => {
  const sdp = `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 ${
    B.slice(8).toLowerCase()
  }\r\na=setup:actpass\r\n`;
  assert.equal(fingerprintFromSdp(sdp), B);
  assert.equal(fingerprintFromSdp("v=0\r\n"), undefined);
  assert.equal(fingerprintFromSdp(undefined), undefined);
});

Deno.test("fingerprintsFromStats() follows the transport's certificate IDs", () => {
  const stats = [
    {
      id: "T01",
      type: "transport",
      localCertificateId: "CL",
      remoteCertificateId: "CR",
    },
    {
      id: "CL",
      type: "certificate",
      fingerprint: A.slice(8),
      fingerprintAlgorithm: "sha-256",
    },
    {
      id: "CR",
      type: "certificate",
      fingerprint: B.slice(8),
      fingerprintAlgorithm: "sha-256",
    },
    {
      id: "CX",
      type: "certificate",
      fingerprint: A.slice(8),
      fingerprintAlgorithm: "sha-1",
    },
  ];
  assert.deepEqual(fingerprintsFromStats(stats), { local: A, remote: B });
  assert.equal(fingerprintsFromStats(stats.slice(0, 2)), undefined);
  assert.equal(fingerprintsFromStats([]), undefined);
});

Deno.test("proofOf() is HMAC-SHA-256 of the fingerprints, sender's first (as openssl computes it)", async () => {
  const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ";
  // printf 'parley-proof-v1\n<A>\n<B>' | openssl dgst -sha256 -hmac <secret>
  assert.equal(
    await proofOf(secret, { local: A, remote: B }),
    "wxDC0M8iDfMLtKY7uwPh4k5CHuZW4WxoP0FrMZIVQs4",
  );
  const node = createHmac("sha256", secret).update(
    `parley-proof-v1\n${B}\n${A}`,
  ).digest("base64url");
  assert.equal(await proofOf(secret, { local: B, remote: A }), node);
});

Deno.test("checkProof() accepts the peer's proof and refuses a relayed or reflected one", async () => {
  const secret = createSecret();
  const mitm = randomFingerprint();
  // B's view of an honest connection: local B, remote A.
  const fromA = await proofOf(secret, { local: A, remote: B });
  assert.equal(await checkProof(secret, { local: B, remote: A }, fromA), true);
  // Through a man in the middle B negotiated with M: A's proof fails.
  assert.equal(
    await checkProof(secret, { local: B, remote: mitm }, fromA),
    false,
  );
  // Our own proof sent back to us fails too (direction matters).
  const fromB = await proofOf(secret, { local: B, remote: A });
  assert.equal(await checkProof(secret, { local: B, remote: A }, fromB), false);
  // Another secret fails.
  assert.equal(
    await checkProof(createSecret(), { local: B, remote: A }, fromA),
    false,
  );
  assert.equal(await checkProof(secret, { local: B, remote: A }, ""), false);
});

Deno.test("secretFromFragment() reads #k= and refuses short or odd secrets", () => {
  const secret = createSecret();
  assert.match(secret, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(secretFromFragment(secretFragment(secret)), secret);
  assert.equal(secretFromFragment(`#x=1&k=${secret}`), secret);
  assert.equal(secretFromFragment("#k=short"), undefined);
  assert.equal(secretFromFragment(`#k=${"b".repeat(16)}`), "b".repeat(16));
  assert.equal(secretFromFragment(`#k=${"b".repeat(15)}`), undefined);
  assert.equal(secretFromFragment(`#k=${"a".repeat(129)}`), undefined);
  assert.equal(secretFromFragment(`#k=${"a".repeat(128)}`), "a".repeat(128));
  assert.equal(secretFromFragment("#k=<script>aaaaaaaaaaaaaa"), undefined);
  assert.equal(secretFromFragment(""), undefined);
  assert.equal(secretFragment(undefined), "");
});

/**
 * The safety code: proof that nobody sat in the middle of a call.
 *
 * Each browser uses one DTLS certificate for every connection of a call, so
 * it has one fingerprint. DTLS only completes when each side holds the
 * private key of the certificate whose fingerprint the other side received
 * in the description, so the two fingerprints a connection negotiated name
 * exactly the two endpoints that hold its keys. Both sides hash the pair
 * (sorted, so both agree) with SHA-256 and show the first 64 bits as twelve
 * digits people can read to each other. A man in the middle terminates each
 * side's DTLS with certificates of its own: then each side hashes a
 * different pair and the codes differ.
 *
 * Twelve digits (about 40 bits) keep an attacker from searching for a
 * certificate whose code matches during the few seconds of call setup.
 *
 * The optional automatic check: a room link may carry a secret in its
 * `#fragment` (browsers never send the fragment to the server). Each side
 * sends an HMAC-SHA-256 under that secret of the fingerprints it negotiated
 * (its own first), and checks the peer's HMAC against its own view with the
 * roles swapped. A man in the middle cannot compute the proof without the
 * secret, and a relayed proof names the wrong certificates.
 *
 * @module
 */

/** Domain separation for the code's hash input. */
export const CODE_LABEL = "parley-safety-code-v1";
/** Domain separation for the HMAC proof. */
export const PROOF_LABEL = "parley-proof-v1";
/** Digits in a safety code. */
export const CODE_DIGITS = 12;
/** The `#fragment` key that holds the room secret (`#k=...`). */
export const SECRET_KEY = "k";
/** Random bytes in a generated room secret (128 bits). */
export const SECRET_BYTES = 16;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

/**
 * A fingerprint as "<algorithm> <HEX:HEX:...>", lowercase algorithm and
 * uppercase hex: SDP, getStats and `getFingerprints()` spell them
 * differently. Undefined for anything that is not a fingerprint.
 */
export function normalizeFingerprint(
  algorithm: string,
  value: string,
): string | undefined {
  const alg = algorithm.trim().toLowerCase();
  const hex = value.trim().toUpperCase();
  if (!/^[a-z0-9-]{1,16}$/.test(alg)) return undefined;
  if (!/^[0-9A-F]{2}(:[0-9A-F]{2}){15,63}$/.test(hex)) return undefined;
  return `${alg} ${hex}`;
}

/** The first `a=fingerprint` of an SDP, normalized (or undefined). */
export function fingerprintFromSdp(
  sdp: string | undefined,
): string | undefined {
  const match = /^a=fingerprint:(\S+) (\S+)\s*$/m.exec(sdp ?? "");
  return match ? normalizeFingerprint(match[1], match[2]) : undefined;
}

/** The two fingerprints a connection negotiated. */
export interface Fingerprints {
  local: string;
  remote: string;
}

/** What `fingerprintsFromStats` reads of a getStats() entry. */
export interface StatsEntry {
  id: string;
  type: string;
  [key: string]: unknown;
}

/**
 * The fingerprints DTLS actually used, from a getStats() report: the
 * transport's `localCertificateId` and `remoteCertificateId` point at
 * `certificate` entries. Undefined before DTLS is up (or where the engine
 * has no certificate stats).
 */
export function fingerprintsFromStats(
  entries: Iterable<StatsEntry>,
): Fingerprints | undefined {
  const byId = new Map<string, StatsEntry>();
  for (const entry of entries) byId.set(entry.id, entry);
  const fingerprint = (id: unknown) => {
    const cert = typeof id === "string" ? byId.get(id) : undefined;
    if (cert?.type !== "certificate") return undefined;
    const { fingerprint, fingerprintAlgorithm } = cert;
    if (
      typeof fingerprint !== "string" ||
      typeof fingerprintAlgorithm !== "string"
    ) return undefined;
    return normalizeFingerprint(fingerprintAlgorithm, fingerprint);
  };
  for (const entry of byId.values()) {
    if (entry.type !== "transport") continue;
    const local = fingerprint(entry.localCertificateId);
    const remote = fingerprint(entry.remoteCertificateId);
    if (local && remote) return { local, remote };
  }
  return undefined;
}

/** The hash input of a code: the label, then both fingerprints sorted. */
export function codeInput(a: string, b: string): string {
  const [first, second] = [a, b].sort();
  return `${CODE_LABEL}\n${first}\n${second}`;
}

/**
 * The safety code of a pair of fingerprints (in either order): the first
 * 8 bytes of SHA-256 over {@linkcode codeInput} as a big-endian number,
 * modulo 10^12, as four groups of three digits ("012 345 678 901").
 */
export async function safetyCode(a: string, b: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(codeInput(a, b)),
    ),
  );
  const number = new DataView(digest.buffer).getBigUint64(0) %
    10n ** BigInt(CODE_DIGITS);
  const digits = number.toString().padStart(CODE_DIGITS, "0");
  return digits.match(/\d{3}/g)?.join(" ") ?? digits;
}

/** The HMAC input of a proof sent by `from` to `to`. */
export function proofInput(from: string, to: string): string {
  return `${PROOF_LABEL}\n${from}\n${to}`;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

async function hmacKey(secret: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/**
 * The proof a side sends: base64url HMAC-SHA-256, keyed with the secret's
 * text, of {@linkcode proofInput} with its own fingerprint first.
 */
export async function proofOf(
  secret: string,
  fingerprints: Fingerprints,
): Promise<string> {
  const mac = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(secret),
    new TextEncoder().encode(
      proofInput(fingerprints.local, fingerprints.remote),
    ),
  );
  return base64url(new Uint8Array(mac));
}

/**
 * Whether the peer's `proof` is right for the fingerprints we negotiated:
 * the peer signs with its own certificate (our remote) first.
 */
export async function checkProof(
  secret: string,
  fingerprints: Fingerprints,
  proof: string,
): Promise<boolean> {
  const expected = await proofOf(secret, {
    local: fingerprints.remote,
    remote: fingerprints.local,
  });
  // Constant time is moot here (one attempt per connection), but cheap.
  if (expected.length !== proof.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    diff |= expected.charCodeAt(i) ^ proof.charCodeAt(i);
  }
  return diff === 0;
}

/** The room secret in a URL fragment like `#k=...`, or undefined. */
export function secretFromFragment(hash: string): string | undefined {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const secret = params.get(SECRET_KEY) ?? "";
  return SECRET_PATTERN.test(secret) ? secret : undefined;
}

/** A fresh room secret: 128 random bits, base64url. */
export function createSecret(
  randomBytes: (bytes: Uint8Array<ArrayBuffer>) => void = (b) =>
    crypto.getRandomValues(b),
): string {
  const bytes = new Uint8Array(SECRET_BYTES);
  randomBytes(bytes);
  return base64url(bytes);
}

/** The fragment that carries `secret` (`#k=...`), or "" without one. */
export function secretFragment(secret: string | undefined): string {
  return secret ? `#${SECRET_KEY}=${secret}` : "";
}

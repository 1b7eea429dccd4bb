/**
 * Unguessable identifiers: room IDs, peer IDs and resume tokens.
 *
 * A resume token is `<peerId>.<secret>`: the peer ID finds the session, and
 * the secret is checked against the stored SHA-256 hash in constant time, so
 * neither the database nor a timing side channel gives a token away.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** 128 random bits as base64url (22 characters). */
export function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return toBase64Url(bytes);
}

/** A new resume token and the hash to store for it. */
export function newToken(peerId: string): { token: string; hash: string } {
  const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  return { token: `${peerId}.${secret}`, hash: hashSecret(secret) };
}

/** Splits a token into its peer ID and secret, or undefined if malformed. */
export function splitToken(
  token: string,
): { peerId: string; secret: string } | undefined {
  const dot = token.indexOf(".");
  if (dot <= 0 || dot === token.length - 1) return undefined;
  return { peerId: token.slice(0, dot), secret: token.slice(dot + 1) };
}

/** Whether `secret` matches a stored hash, compared in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const actual = Buffer.from(hashSecret(secret), "hex");
  const expected = Buffer.from(storedHash, "hex");
  return actual.length === expected.length &&
    timingSafeEqual(actual, expected);
}

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

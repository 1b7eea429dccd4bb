/**
 * The ICE servers each peer gets in `joined`, built from the configuration.
 *
 * With `TURN_SECRET`, TURN credentials are minted per peer with the "REST API
 * for access to TURN services" scheme that coturn implements as
 * `use-auth-secret`: the username is `<expiry unix seconds>:<peer ID>` and the
 * password `base64(HMAC-SHA1(secret, username))`. coturn checks the HMAC and
 * the expiry itself, so the secret never leaves the server and a leaked
 * credential dies on its own.
 *
 * @module
 */
import { createHmac } from "node:crypto";
import { type Config, parseIceServersJson } from "./config.ts";
import type { IceServer } from "./protocol.ts";

/** ICE servers for one peer, and how long their credentials live. */
export interface IceServerList {
  iceServers: IceServer[];
  /** Milliseconds until minted credentials expire; absent if they never do. */
  ttlMs?: number;
}

/** Options for {@linkcode createIceServers}. */
export interface IceServersOptions {
  /** @default {Date.now} */
  now?: () => number;
}

/** A TURN REST credential for `peerId`, valid until `expiresAtSec`. */
export function turnCredential(
  secret: string,
  peerId: string,
  expiresAtSec: number,
): { username: string; credential: string } {
  const username = `${expiresAtSec}:${peerId}`;
  const credential = createHmac("sha1", secret).update(username).digest(
    "base64",
  );
  return { username, credential };
}

/** Returns the function that lists ICE servers for a peer. */
export function createIceServers(
  config: Pick<
    Config,
    | "stunUrls"
    | "turnUrls"
    | "turnSecret"
    | "turnTtlMs"
    | "turnUsername"
    | "turnCredential"
    | "iceServersJson"
  >,
  options: IceServersOptions = {},
): (peerId: string) => IceServerList {
  const now = options.now ?? Date.now;
  if (config.iceServersJson !== "") {
    const servers = parseIceServersJson(config.iceServersJson);
    return () => ({ iceServers: structuredClone(servers) });
  }
  const fixed: IceServer[] = [];
  if (config.stunUrls.length > 0) fixed.push({ urls: [...config.stunUrls] });
  if (config.turnUrls.length > 0 && config.turnSecret === "") {
    fixed.push({
      urls: [...config.turnUrls],
      username: config.turnUsername,
      credential: config.turnCredential,
    });
  }
  if (config.turnUrls.length === 0 || config.turnSecret === "") {
    return () => ({ iceServers: structuredClone(fixed) });
  }
  const ttlSec = Math.max(60, Math.round(config.turnTtlMs / 1000));
  return (peerId) => {
    const expiresAtSec = Math.floor(now() / 1000) + ttlSec;
    const turn = turnCredential(config.turnSecret, peerId, expiresAtSec);
    return {
      iceServers: [
        ...structuredClone(fixed),
        { urls: [...config.turnUrls], ...turn },
      ],
      ttlMs: ttlSec * 1000,
    };
  };
}

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
import { ConfigError } from "./config_error.ts";
import type { IceServer } from "./protocol.ts";

/** The configuration options that say which ICE servers peers get. */
export interface IceConfig {
  stunUrls: readonly string[];
  turnUrls: readonly string[];
  turnSecret: string;
  turnTtlMs: number;
  turnUsername: string;
  turnCredential: string;
  iceServersJson: string;
}

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
  config: IceConfig,
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

const STUN_SCHEME = /^stuns?:/;
const TURN_SCHEME = /^turns?:/;

/**
 * Checks the ICE options together: URL schemes, and that TURN has either a
 * secret or a static username and password. Never echoes a secret.
 */
export function checkIceConfig(config: IceConfig): void {
  for (const url of config.stunUrls) {
    if (!STUN_SCHEME.test(url)) {
      throw new ConfigError(
        `Invalid STUN_URLS (--stun-urls): "${url}" does not start with stun: or stuns:`,
      );
    }
  }
  for (const url of config.turnUrls) {
    if (!TURN_SCHEME.test(url)) {
      throw new ConfigError(
        `Invalid TURN_URLS (--turn-urls): "${url}" does not start with turn: or turns:`,
      );
    }
  }
  const staticAuth = config.turnUsername !== "" || config.turnCredential !== "";
  if (config.turnSecret !== "" && staticAuth) {
    throw new ConfigError(
      "Set either TURN_SECRET or TURN_USERNAME and TURN_CREDENTIAL, not both",
    );
  }
  if (
    staticAuth && (config.turnUsername === "" || config.turnCredential === "")
  ) {
    throw new ConfigError(
      "TURN_USERNAME and TURN_CREDENTIAL go together: set both",
    );
  }
  if (config.turnUrls.length > 0 && config.turnSecret === "" && !staticAuth) {
    throw new ConfigError(
      "TURN_URLS needs TURN_SECRET (short-lived credentials) or TURN_USERNAME and TURN_CREDENTIAL",
    );
  }
  if (
    (config.turnSecret !== "" || staticAuth) && config.turnUrls.length === 0
  ) {
    throw new ConfigError("TURN credentials are set but TURN_URLS is empty");
  }
  if (config.iceServersJson !== "") parseIceServersJson(config.iceServersJson);
}

/** A server entry of `ICE_SERVERS`, as `RTCPeerConnection` takes it. */
export interface IceServerConfig {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** Parses and checks `ICE_SERVERS`, or throws a {@linkcode ConfigError}. */
export function parseIceServersJson(text: string): IceServerConfig[] {
  const bad = (why: string) =>
    new ConfigError(`Invalid ICE_SERVERS (--ice-servers): ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bad("not valid JSON");
  }
  if (!Array.isArray(value)) throw bad("not a JSON array of ICE servers");
  return value.map((entry, i) => {
    if (typeof entry !== "object" || entry === null) {
      throw bad(`entry ${i} is not an object`);
    }
    const { urls, username, credential } = entry as Record<string, unknown>;
    const list = typeof urls === "string" ? [urls] : urls;
    if (
      !Array.isArray(list) || list.length === 0 ||
      !list.every((u) => typeof u === "string")
    ) {
      throw bad(`entry ${i} needs "urls": a URL or a list of URLs`);
    }
    for (const url of list as string[]) {
      if (!STUN_SCHEME.test(url) && !TURN_SCHEME.test(url)) {
        throw bad(
          `entry ${i}: "${url}" is not a stun:, stuns:, turn: or turns: URL`,
        );
      }
      if (
        TURN_SCHEME.test(url) &&
        (typeof username !== "string" || typeof credential !== "string")
      ) {
        throw bad(`entry ${i}: TURN URLs need "username" and "credential"`);
      }
    }
    const server: IceServerConfig = { urls: urls as string | string[] };
    if (typeof username === "string") server.username = username;
    if (typeof credential === "string") server.credential = credential;
    return server;
  });
}

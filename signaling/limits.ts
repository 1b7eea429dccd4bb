/**
 * Abuse limits that need state: token buckets, and per-client-address
 * accounting of open sockets, handshakes and joins. Time comes from an
 * injected clock, so tests step it instead of sleeping.
 *
 * @module
 */
import { DEFAULTS } from "./config.ts";

/** A token bucket: `burst` tokens, refilled at `ratePerSec`. */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(ratePerSec: number, burst: number, now: () => number) {
    this.#rate = ratePerSec;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  /** Takes `n` tokens if there are that many; false leaves the bucket as is. */
  take(n = 1): boolean {
    this.#refill();
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Seconds until `n` tokens are there again. */
  waitSec(n = 1): number {
    this.#refill();
    return this.#tokens >= n ? 0 : (n - this.#tokens) / this.#rate;
  }

  /** Whether the bucket is full, so forgetting it changes nothing. */
  get full(): boolean {
    this.#refill();
    return this.#tokens >= this.#burst;
  }

  #refill(): void {
    const now = this.#now();
    const elapsedSec = Math.max(0, now - this.#at) / 1000;
    this.#at = now;
    this.#tokens = Math.min(
      this.#burst,
      this.#tokens + elapsedSec * this.#rate,
    );
  }
}

/** Options for {@linkcode ClientLimiter}. */
export interface ClientLimiterOptions {
  /** Open WebSockets one address may hold. @default {DEFAULTS.maxConnectionsPerIp} */
  maxSocketsPerIp?: number;
  /** Sustained WebSocket handshakes per second per address. @default {DEFAULTS.handshakeRate} */
  handshakesPerSec?: number;
  /** Sustained joins per second per address. @default {DEFAULTS.joinRate} */
  joinsPerSec?: number;
  /** Knocks on locked rooms per minute per address. @default {DEFAULTS.knockRate} */
  knocksPerMin?: number;
  /** Addresses no per-address limit applies to. @default {[]} */
  exempt?: readonly string[];
  /** @default {Date.now} */
  now?: () => number;
}

/** Why an address was refused, and when it may try again. */
export interface Refusal {
  reason: "sockets" | "handshakes";
  retryAfterSec: number;
}

interface ClientState {
  sockets: number;
  handshakes: TokenBucket;
  joins: TokenBucket;
  knocks: TokenBucket;
}

/**
 * Per-address accounting. An address's entry lives while it has sockets or
 * unspent refills; {@linkcode ClientLimiter.prune} drops idle ones so the map
 * cannot grow without bound.
 */
export class ClientLimiter {
  readonly #options: Required<ClientLimiterOptions>;
  readonly #exempt: Set<string>;
  readonly #clients = new Map<string, ClientState>();

  constructor(options: ClientLimiterOptions = {}) {
    this.#options = {
      maxSocketsPerIp: DEFAULTS.maxConnectionsPerIp,
      handshakesPerSec: DEFAULTS.handshakeRate,
      joinsPerSec: DEFAULTS.joinRate,
      knocksPerMin: DEFAULTS.knockRate,
      exempt: [],
      now: Date.now,
      ...options,
    };
    this.#exempt = new Set(this.#options.exempt);
  }

  /** How many addresses are tracked. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Admits a handshake from `ip`, counting its socket until `release` is
   * called, or says why not.
   */
  admit(ip: string): { release: () => void } | Refusal {
    if (this.#exempt.has(ip)) return { release: () => {} };
    const client = this.#client(ip);
    if (client.sockets >= this.#options.maxSocketsPerIp) {
      return { reason: "sockets", retryAfterSec: 5 };
    }
    if (!client.handshakes.take()) {
      return {
        reason: "handshakes",
        retryAfterSec: Math.max(1, Math.ceil(client.handshakes.waitSec())),
      };
    }
    client.sockets++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        client.sockets--;
      },
    };
  }

  /** Whether `ip` may make another join attempt now. */
  allowJoin(ip: string): boolean {
    if (this.#exempt.has(ip)) return true;
    return this.#client(ip).joins.take();
  }

  /** Whether `ip` may knock on a locked room now. */
  allowKnock(ip: string): boolean {
    if (this.#exempt.has(ip)) return true;
    return this.#client(ip).knocks.take();
  }

  /** Forgets addresses with no socket and full buckets. */
  prune(): void {
    for (const [ip, client] of this.#clients) {
      if (
        client.sockets === 0 && client.handshakes.full && client.joins.full &&
        client.knocks.full
      ) {
        this.#clients.delete(ip);
      }
    }
  }

  #client(ip: string): ClientState {
    let client = this.#clients.get(ip);
    if (!client) {
      const o = this.#options;
      client = {
        sockets: 0,
        // A burst of twice the sustained rate lets a page reload, or a few
        // tabs opened together, through.
        handshakes: new TokenBucket(
          o.handshakesPerSec,
          o.handshakesPerSec * 2,
          o.now,
        ),
        joins: new TokenBucket(o.joinsPerSec, o.joinsPerSec * 2, o.now),
        knocks: new TokenBucket(o.knocksPerMin / 60, o.knocksPerMin, o.now),
      };
      this.#clients.set(ip, client);
    }
    return client;
  }
}

/**
 * The client's address: the socket's peer, or, when that peer is a trusted
 * proxy, the last address in `X-Forwarded-For` that is not itself a trusted
 * proxy. Without trusted proxies the header is ignored: anyone can send it.
 */
export function clientAddress(
  req: Request,
  remote: string,
  trustedProxies: ReadonlySet<string>,
): string {
  if (!trustedProxies.has(remote)) return remote;
  const header = req.headers.get("x-forwarded-for");
  if (!header) return remote;
  const hops = header.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trustedProxies.has(hops[i])) return hops[i];
  }
  return hops[0] ?? remote;
}

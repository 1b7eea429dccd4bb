/**
 * The HTTP side of Parley as one pure handler: `createHandler(deps, options)`
 * returns the function `Deno.serve` calls. Routes:
 *
 * - `GET /ws`: the signaling WebSocket (see `docs/protocol.md`),
 * - `GET /health`: JSON status, 200 when healthy and 503 when storage fails,
 * - `GET /` and `GET /r/<room>`: the client page; its assets beside it.
 *
 * @module
 */
import type { Hub } from "./hub.ts";
import { DEFAULTS } from "./config.ts";
import type { RoomStore } from "../storage/mod.ts";
import {
  checkHandshake,
  type SocketRegistry,
  upgradeToPeer,
} from "./websocket.ts";
import { clientAddress, type ClientLimiter, type Refusal } from "./limits.ts";
import { type Family, renderFamilies, single } from "./metrics.ts";
import { timingSafeEqual } from "node:crypto";

/** One static file the handler serves. */
export interface Asset {
  body: string | Uint8Array<ArrayBuffer>;
  contentType: string;
}

/** What the handler works with. */
export interface HandlerDeps {
  hub: Hub;
  store: RoomStore;
  /** Static files by path; `/` is the page itself. */
  assets: ReadonlyMap<string, Asset>;
  /** Counts open sockets for a shutdown that waits for them. */
  registry?: SocketRegistry;
}

/** Options for {@linkcode createHandler}. */
export interface HandlerOptions {
  /** The version `/health` reports. @default {"dev"} */
  version?: string;
  /** Page origins allowed to open `/ws`; empty: the page's own host. */
  allowedOrigins?: readonly string[];
  /** Allow any origin (local development). @default {false} */
  enableCors?: boolean;
  /** @default {DEFAULTS.idleTimeoutSec} */
  idleTimeoutSec?: number;
  /** Accept WebSockets that carry no Origin header. @default {DEFAULTS.allowNoOrigin} */
  allowNoOrigin?: boolean;
  /** Open WebSockets per instance; more get 503. @default {DEFAULTS.maxConnections} */
  maxConnections?: number;
  /** Per-address limits; none when absent. */
  limiter?: ClientLimiter;
  /** Proxies whose `X-Forwarded-For` is believed. @default {[]} */
  trustedProxies?: readonly string[];
  /** Whether the process is over its memory bound. @default {() => false} */
  overloaded?: () => boolean;
  /** A bearer token `/metrics` asks for; empty: open. @default {""} */
  metricsToken?: string;
  /** @default {Date.now} */
  now?: () => number;
}

/** A `Deno.serve` handler. */
export type Handler = (
  req: Request,
  info?: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;

const ROOM_PAGE = new URLPattern({ pathname: "/r/:room([A-Za-z0-9_-]{1,64})" });

/**
 * Security headers for pages. The CSP allows only the page's own scripts,
 * styles and socket, and compiling WebAssembly (`'wasm-unsafe-eval'`, for
 * the opt-in noise filter; it allows no `eval` of script); room IDs are
 * bearer secrets, so no referrer leaves.
 */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "permissions-policy": "microphone=(self), camera=(), geolocation=()",
  "cross-origin-opener-policy": "same-origin",
};

/** Creates Parley's HTTP handler. */
export function createHandler(
  deps: HandlerDeps,
  options: HandlerOptions = {},
): Handler {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const version = options.version ?? "dev";
  const allowed = new Set(
    (options.allowedOrigins ?? []).map((o) => normalizeOrigin(o)),
  );
  const idleTimeoutSec = options.idleTimeoutSec ?? DEFAULTS.idleTimeoutSec;
  const maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
  const trustedProxies = new Set(options.trustedProxies ?? []);
  const overloaded = options.overloaded ?? (() => false);
  const limiter = options.limiter;

  async function health(): Promise<Response> {
    let db = "ok";
    let dbError: string | undefined;
    let rooms = 0;
    try {
      await deps.store.check();
      rooms = (await deps.store.counts()).rooms;
    } catch (error) {
      db = "error";
      // What failed, e.g. Redis during a Sentinel failover.
      dbError = error instanceof Error ? error.message : String(error);
    }
    const body = {
      status: db === "ok" ? "ok" : "degraded",
      version,
      uptimeSec: Math.floor((now() - startedAt) / 1000),
      connections: deps.hub.snapshot().connections,
      rooms,
      db,
      ...(dbError === undefined ? {} : { dbError }),
    };
    return Response.json(body, {
      status: db === "ok" ? 200 : 503,
      headers: { "cache-control": "no-store" },
    });
  }

  function originAllowed(req: Request, url: URL): boolean {
    const origin = req.headers.get("origin");
    // Non-browser clients send no Origin; browsers always do on WebSockets.
    if (origin === null) return options.allowNoOrigin ?? DEFAULTS.allowNoOrigin;
    if (options.enableCors) return true;
    const normalized = normalizeOrigin(origin);
    if (normalized === undefined) return false;
    if (allowed.size > 0) return allowed.has(normalized);
    // Same host only. The scheme is not compared: behind a TLS-terminating
    // proxy the page is https while this request arrives as http.
    return new URL(normalized).host === url.host;
  }

  function serveAsset(path: string): Response {
    const asset = deps.assets.get(path);
    if (!asset) return new Response("Not found\n", { status: 404 });
    return new Response(asset.body, {
      headers: {
        "content-type": asset.contentType,
        "cache-control": path === "/" ? "no-cache" : "public, max-age=300",
        ...PAGE_HEADERS,
      },
    });
  }

  async function metrics(req: Request): Promise<Response> {
    const token = options.metricsToken ?? "";
    if (token !== "" && !bearerMatches(req, token)) {
      return new Response("Unauthorized\n", {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="parley-metrics"' },
      });
    }
    const hub = deps.hub.snapshot();
    const m = deps.hub.metrics;
    let storeUp = 1;
    let counts = { rooms: 0, peers: 0 };
    try {
      await deps.store.check();
      counts = await deps.store.counts();
    } catch {
      storeUp = 0;
    }
    const families: Family[] = [
      single("parley_connections", "gauge", "Open WebSockets", hub.connections),
      single("parley_rooms", "gauge", "Rooms in storage", counts.rooms),
      single(
        "parley_peers",
        "gauge",
        "Peers (sessions) in storage",
        counts.peers,
      ),
      single(
        "parley_rooms_loaded",
        "gauge",
        "Rooms with a member connected to this instance",
        hub.rooms,
      ),
      single("parley_joins_total", "counter", "New peers joined", hub.joins),
      single(
        "parley_resumes_total",
        "counter",
        "Sessions resumed",
        hub.resumes,
      ),
      single(
        "parley_signals_relayed_total",
        "counter",
        "Signals relayed",
        hub.relayed,
      ),
      {
        name: "parley_errors_total",
        help: "Errors sent to clients, by code",
        type: "counter",
        lines: m.errors.render("parley_errors_total", "code"),
      },
      {
        name: "parley_closes_total",
        help: "Sockets closed by the server, by close code",
        type: "counter",
        lines: m.closes.render("parley_closes_total", "code"),
      },
      {
        name: "parley_handshakes_refused_total",
        help: "WebSocket handshakes refused before the upgrade, by HTTP status",
        type: "counter",
        lines: m.refusals.render("parley_handshakes_refused_total", "status"),
      },
      single(
        "parley_rate_limited_total",
        "counter",
        "Rate-limit hits: rate-limited errors and 429 handshakes",
        m.errors.get("rate-limited") + m.refusals.get(429),
      ),
      {
        name: "parley_join_duration_seconds",
        help: "From a join arriving to its joined going out",
        type: "histogram",
        lines: m.joinLatency.render("parley_join_duration_seconds"),
      },
      {
        name: "parley_relay_duration_seconds",
        help: "Handling time of a relayed signal (sampled one in 16)",
        type: "histogram",
        lines: m.relayLatency.render("parley_relay_duration_seconds"),
      },
      single(
        "parley_event_loop_lag_seconds",
        "gauge",
        "Event-loop lag at the last sample",
        m.eventLoopLagSec,
      ),
      single(
        "parley_event_loop_lag_max_seconds",
        "gauge",
        "Largest event-loop lag seen",
        m.eventLoopLagMaxSec,
      ),
      single("parley_store_up", "gauge", "Storage takes writes", storeUp),
      single(
        "parley_bus_up",
        "gauge",
        "Cross-instance bus (Redis pub/sub) delivers; 1 without one",
        deps.hub.busHealthy ? 1 : 0,
      ),
      single(
        "parley_process_resident_memory_bytes",
        "gauge",
        "Resident memory",
        Deno.memoryUsage().rss,
      ),
      single(
        "parley_uptime_seconds",
        "gauge",
        "Seconds since start",
        Math.floor((now() - startedAt) / 1000),
      ),
    ];
    return new Response(renderFamilies(families), {
      headers: {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
        "cache-control": "no-store",
      },
    });
  }

  function socket(req: Request, url: URL, remote: string): Response {
    const res = upgrade(req, url, remote);
    if (res.status !== 101) deps.hub.metrics.countRefusal(res.status);
    return res;
  }

  function upgrade(req: Request, url: URL, remote: string): Response {
    const bad = checkHandshake(req);
    if (bad) return bad;
    if (!originAllowed(req, url)) {
      return new Response("Origin not allowed\n", { status: 403 });
    }
    if (deps.hub.draining) return unavailable("Server is restarting", 2);
    if (deps.hub.snapshot().connections >= maxConnections) {
      return unavailable("Server is full", 10);
    }
    if (overloaded()) return unavailable("Server is short of memory", 10);
    const registry = deps.registry;
    if (!limiter) {
      return upgradeToPeer(req, deps.hub, { idleTimeoutSec, registry });
    }
    const ip = clientAddress(req, remote, trustedProxies);
    const admitted = limiter.admit(ip);
    if (isRefusal(admitted)) {
      return new Response(
        admitted.reason === "sockets"
          ? "Too many open connections from your address\n"
          : "Too many connection attempts from your address\n",
        {
          status: 429,
          headers: { "retry-after": String(admitted.retryAfterSec) },
        },
      );
    }
    return upgradeToPeer(req, deps.hub, {
      idleTimeoutSec,
      registry,
      client: {
        allowJoin: () => limiter.allowJoin(ip),
        allowKnock: () => limiter.allowKnock(ip),
        onClose: admitted.release,
      },
    });
  }

  return (req, info) => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/ws") {
      return socket(req, url, remoteHost(info));
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("Method not allowed\n", {
        status: 405,
        headers: { allow: "GET, HEAD" },
      });
    }
    if (path === "/health") return health();
    if (path === "/metrics") return metrics(req);
    if (path === "/" || ROOM_PAGE.test(url)) return serveAsset("/");
    return serveAsset(path);
  };
}

function bearerMatches(req: Request, token: string): boolean {
  const header = req.headers.get("authorization") ?? "";
  const given = new TextEncoder().encode(header);
  const expected = new TextEncoder().encode(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function unavailable(message: string, retryAfterSec: number): Response {
  return new Response(`${message}; try again shortly\n`, {
    status: 503,
    headers: { "retry-after": String(retryAfterSec) },
  });
}

function isRefusal(value: Refusal | { release(): void }): value is Refusal {
  return "reason" in value;
}

/** `scheme://host[:port]` in canonical form, or undefined if not a URL. */
function normalizeOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

function remoteHost(info: Deno.ServeHandlerInfo | undefined): string {
  const addr = info?.remoteAddr;
  return addr && "hostname" in addr ? addr.hostname : "unknown";
}

/**
 * The one place that calls `Deno.upgradeWebSocket`: checks the handshake the
 * way RFC 6455 asks (Deno alone accepts some invalid ones, such as version
 * 8), upgrades, and feeds the socket's events to the hub.
 *
 * @module
 */
import type { ClientHooks, Hub } from "./hub.ts";

/** Options for {@linkcode upgradeToPeer}. */
export interface UpgradeOptions {
  /** Seconds between WebSocket pings; a socket that misses one is closed. */
  idleTimeoutSec: number;
  /** What the connection may ask about its client address. */
  client?: ClientHooks;
  /** Where open sockets are counted, for a shutdown that waits for them. */
  registry?: SocketRegistry;
}

/**
 * The sockets that are open, so a shutdown can let the close handshakes with
 * our close code finish before the HTTP server closes what is left (with
 * Deno's own 1001, which clients would not know to resume after).
 */
export class SocketRegistry {
  #open = 0;
  #idle?: () => void;

  /** How many sockets are open. */
  get size(): number {
    return this.#open;
  }

  /** @internal */
  opened(): void {
    this.#open++;
  }

  /** @internal */
  closed(): void {
    this.#open--;
    if (this.#open === 0) this.#idle?.();
  }

  /** Resolves once no socket is open, or after `timeoutMs`. */
  drained(timeoutMs: number): Promise<void> {
    if (this.#open === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#idle = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#idle = done;
    });
  }
}

const KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * Why `req` is not a valid WebSocket handshake, as an HTTP response, or
 * undefined when it is one.
 */
export function checkHandshake(req: Request): Response | undefined {
  const upgrade = req.headers.get("upgrade");
  if (upgrade === null) {
    return new Response("This endpoint speaks WebSocket only\n", {
      status: 426,
      headers: { upgrade: "websocket", connection: "Upgrade" },
    });
  }
  const connection = req.headers.get("connection") ?? "";
  const tokens = connection.toLowerCase().split(",").map((s) => s.trim());
  let problem: string | undefined;
  if (req.method !== "GET") problem = "method must be GET";
  else if (upgrade.toLowerCase() !== "websocket") {
    problem = "Upgrade must be websocket";
  } else if (!tokens.includes("upgrade")) {
    problem = "Connection must include Upgrade";
  } else if (!KEY.test(req.headers.get("sec-websocket-key") ?? "")) {
    problem = "Sec-WebSocket-Key must be 16 bytes in base64";
  } else if (req.headers.get("sec-websocket-version") !== "13") {
    return new Response("Bad WebSocket handshake: version must be 13\n", {
      status: 400,
      headers: { "sec-websocket-version": "13" },
    });
  }
  if (problem) {
    return new Response(`Bad WebSocket handshake: ${problem}\n`, {
      status: 400,
    });
  }
  return undefined;
}

/** Upgrades a checked handshake and connects the socket to the hub. */
export function upgradeToPeer(
  req: Request,
  hub: Hub,
  options: UpgradeOptions,
): Response {
  let upgraded: ReturnType<typeof Deno.upgradeWebSocket>;
  try {
    upgraded = Deno.upgradeWebSocket(req, {
      idleTimeout: options.idleTimeoutSec,
    });
  } catch (error) {
    options.client?.onClose?.();
    const message = error instanceof Error ? error.message : String(error);
    return new Response(`Bad WebSocket handshake: ${message}\n`, {
      status: 400,
    });
  }
  const { socket, response } = upgraded;
  const conn = hub.connect(socket, options.client);
  options.registry?.opened();
  socket.onmessage = (event) => {
    conn.receive(typeof event.data === "string" ? event.data : null);
  };
  socket.onclose = () => {
    conn.handleClose();
    // The address's slot is freed by the socket's real end, not by our
    // close(): Deno keeps a socket whose client ignores the close frame
    // open (denoland/deno#24292), and such sockets must stay counted.
    options.client?.onClose?.();
    options.registry?.closed();
  };
  // An error is always followed by a close event, which does the cleanup.
  socket.onerror = () => {};
  return response;
}

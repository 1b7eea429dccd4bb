/**
 * The signaling client: one WebSocket to `/ws` that reconnects on its own.
 * It moves JSON messages and nothing else; the call decides what to send
 * (see `docs/protocol.md`). It never touches an RTCPeerConnection, so a call
 * keeps playing while the socket is down.
 *
 * @module
 */
import {
  type ClientFrame,
  CLOSE,
  mayReconnect,
  parseServerMessage,
  type ServerMessage,
} from "../signaling/protocol.ts";

/** What the socket is doing, as the UI shows it. */
export type SocketStatus = "connecting" | "open" | "reconnecting" | "closed";

/** What to do after the server closed the socket with a code. */
export type CloseAction = "reconnect" | "stop" | "replaced";

/** Delay before the first reconnect. */
export const BACKOFF_BASE_MS = 300;
/** Longest delay between reconnects. */
export const BACKOFF_MAX_MS = 8_000;

/**
 * The delay before reconnect number `attempt` (0-based): exponential from
 * {@linkcode BACKOFF_BASE_MS} up to {@linkcode BACKOFF_MAX_MS}, with "equal
 * jitter" (half fixed, half random) so a room of clients that lost the same
 * server does not come back in lockstep.
 */
export function backoffDelayMs(
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * ceiling / 2);
}

/**
 * What a close code asks for, from the protocol's table: `replaced` means
 * another tab took the session over; other codes that forbid reconnecting
 * stop; the rest (including a dropped connection) reconnect and resume.
 */
export function closeAction(code: number): CloseAction {
  if (code === CLOSE.replaced.code) return "replaced";
  return mayReconnect(code) ? "reconnect" : "stop";
}

/** Callbacks of a {@linkcode SignalingClient}. */
export interface SignalingHandlers {
  /** The socket opened: send `join` now. */
  onOpen(): void;
  /** A message arrived. */
  onMessage(message: ServerMessage): void;
  /** The status changed; `code` is the close code that caused it. */
  onStatus(status: SocketStatus, code?: number): void;
}

/** Options for {@linkcode SignalingClient}. */
export interface SignalingOptions {
  /** @default {globalThis.WebSocket} */
  WebSocket?: typeof WebSocket;
  /** @default {Math.random} */
  random?: () => number;
}

/** A self-reconnecting WebSocket carrying JSON messages. */
export class SignalingClient {
  readonly #url: string;
  readonly #handlers: SignalingHandlers;
  readonly #WebSocket: typeof WebSocket;
  readonly #random: () => number;
  #socket: WebSocket | undefined;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #awaitingPong = false;
  #stopped = false;

  constructor(
    url: string,
    handlers: SignalingHandlers,
    options: SignalingOptions = {},
  ) {
    this.#url = url;
    this.#handlers = handlers;
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.#random = options.random ?? Math.random;
  }

  /** Whether a socket is open right now. */
  get open(): boolean {
    return this.#socket?.readyState === 1;
  }

  /** Opens the first socket. */
  start(): void {
    this.#stopped = false;
    this.#handlers.onStatus("connecting");
    this.#connect();
  }

  /** Sends `message` if the socket is open; returns whether it did. */
  send(message: ClientFrame): boolean {
    if (!this.open || !this.#socket) return false;
    this.#socket.send(JSON.stringify(message));
    return true;
  }

  /** Marks the session as established: the backoff starts over. */
  joined(): void {
    this.#attempt = 0;
  }

  /**
   * Sends an application `ping` every `intervalMs`; a ping still unanswered
   * when the next one is due means a dead connection, so the socket is
   * dropped and reconnected.
   */
  setPingInterval(intervalMs: number): void {
    clearInterval(this.#pingTimer);
    this.#awaitingPong = false;
    this.#pingTimer = setInterval(() => {
      if (!this.open) return;
      if (this.#awaitingPong) {
        this.#socket?.close();
        return;
      }
      this.#awaitingPong = this.send({ type: "ping" });
    }, Math.max(1000, intervalMs));
  }

  /** Reconnects now instead of waiting out the backoff (e.g. `online`). */
  retryNow(): void {
    if (this.#stopped || this.#socket) return;
    clearTimeout(this.#retryTimer);
    this.#connect();
  }

  /** Closes for good; idempotent. */
  stop(code = 1000): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#pingTimer);
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) {
      socket.onclose = null;
      socket.close(code, "bye");
    }
    this.#handlers.onStatus("closed");
  }

  #connect(): void {
    this.#retryTimer = undefined;
    let socket: WebSocket;
    try {
      socket = new this.#WebSocket(this.#url);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.#socket = socket;
    socket.onopen = () => {
      this.#awaitingPong = false;
      this.#handlers.onStatus("open");
      this.#handlers.onOpen();
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      const message = parseServerMessage(event.data);
      if (!message) return;
      if (message.type === "pong") this.#awaitingPong = false;
      this.#handlers.onMessage(message);
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      const action = closeAction(event.code);
      if (this.#stopped || action !== "reconnect") {
        this.#stopped = true;
        clearInterval(this.#pingTimer);
        this.#handlers.onStatus("closed", event.code);
        return;
      }
      this.#handlers.onStatus("reconnecting", event.code);
      this.#scheduleReconnect();
    };
  }

  #scheduleReconnect(): void {
    const delay = backoffDelayMs(this.#attempt++, this.#random);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }
}

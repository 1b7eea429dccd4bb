/**
 * One WebSocket's protocol state: the frame size check, rate limits, the
 * parse, the error budget, the join timeout, and the order of messages (one
 * at a time; while a join or leave waits for the store, later messages wait
 * in a backlog, so a `signal` sent right after `join` is handled after it).
 *
 * @module
 */
import {
  type AnswerMessage,
  type ClientMessage,
  CLOSE,
  type CloseCode,
  encode,
  ERROR_CODES,
  exceedsUtf8Bytes,
  inspectSignalData,
  type JoinMessage,
  type LockMessage,
  parseClientMessage,
  ProtocolError,
  type Ref,
  type RemoveMessage,
  type ServerMessage,
  type SignalMessage,
} from "./protocol.ts";
import { TokenBucket } from "./limits.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { StoreUnavailableError } from "../storage/mod.ts";

/** The connection's view of a WebSocket: what it sends and how it closes. */
export interface PeerSocket {
  /** Sends one text frame. */
  send(text: string): void;
  /** Closes the socket; later calls do nothing. */
  close(code: number, reason: string): void;
  /** Bytes queued for sending and not yet written to the network. */
  readonly bufferedAmount: number;
}

/** What a connection holds while joined: the host's session record. */
export interface BoundSession {
  /** The connection holding the session, while one does. */
  conn?: unknown;
}

/**
 * What a connection needs from the room logic (the hub implements it). A
 * method may throw a {@linkcode ProtocolError} for the client.
 */
export interface ConnectionHost<S extends BoundSession> {
  /** Handles a join (new or resume); attaches a session on success. */
  join(conn: Connection<S>, msg: JoinMessage): Promise<void>;
  /** Handles `leave` of the attached session. */
  leave(conn: Connection<S>, unload: boolean): Promise<void>;
  /** Relays a signal from the attached session. */
  relay(conn: Connection<S>, raw: string, msg: SignalMessage): void;
  /** Fresh ICE servers for the attached session. */
  iceServers(conn: Connection<S>, ref: Ref | undefined): ServerMessage;
  /** A host's control: lock, admit, deny or remove. */
  control(
    conn: Connection<S>,
    msg: LockMessage | AnswerMessage | RemoveMessage,
  ): Promise<void>;
  /** The socket of a joined session closed without `leave`. */
  dropped(session: S): void;
  /** The socket closed; the connection is done. */
  closed(conn: Connection<S>): void;
}

/** The limits and hooks of one connection. */
export interface ConnectionOptions {
  readonly errorBudget: number;
  readonly joinTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly maxBufferedBytes: number;
  readonly messageRate: number;
  readonly messageBurst: number;
  readonly candidateBurst: number;
  readonly maxSdpBytes: number;
  readonly maxCandidateBytes: number;
  /** Sees every parsed message first (a test hook). */
  readonly inspect: (msg: ClientMessage) => void;
  readonly now: () => number;
  readonly log: Logger;
  /** Where errors, closes and latencies are counted. */
  readonly metrics: Metrics;
}

/** What a connection may ask about the client address behind it. */
export interface ClientHooks {
  /** Whether the address may make another join attempt now. */
  allowJoin?: () => boolean;
  /** Whether the address may knock on a locked room now. */
  allowKnock?: () => boolean;
  /** Called once when the socket has really closed (not when asked to). */
  onClose?: () => void;
}

/**
 * Rate-limited messages in a row after which the socket is closed: a client
 * that keeps sending into a refusal is not going to slow down.
 */
const RATE_LIMIT_STREAK_CLOSE = 50;

/**
 * Frames held while a join or leave waits on the store. A page sends its
 * join and then at most an ICE trickle; more than this is refused.
 */
const BACKLOG_LIMIT = 64;

/** One WebSocket's protocol state. */
export class Connection<S extends BoundSession = BoundSession> {
  readonly #host: ConnectionHost<S>;
  readonly #socket: PeerSocket;
  readonly #options: ConnectionOptions;
  readonly #client: ClientHooks;
  readonly #messages: TokenBucket;
  readonly #candidates: TokenBucket;
  readonly #joins: TokenBucket;
  #refusedStreak = 0;
  #session?: S;
  #budget: number;
  #busy = false;
  /** Frames (or tasks) waiting for the one being handled. */
  #backlog: (string | null | (() => void))[] = [];
  #joinTimer?: ReturnType<typeof setTimeout>;
  #closed = false;
  #relays = 0;
  #closeTimer?: ReturnType<typeof setTimeout>;

  constructor(
    host: ConnectionHost<S>,
    socket: PeerSocket,
    options: ConnectionOptions & { client?: ClientHooks },
  ) {
    this.#host = host;
    const client = options.client ?? {};
    this.#socket = socket;
    this.#options = options;
    this.#client = client;
    this.#budget = options.errorBudget;
    const now = options.now;
    this.#messages = new TokenBucket(
      options.messageRate,
      options.messageBurst,
      now,
    );
    this.#candidates = new TokenBucket(
      options.candidateBurst / 10,
      options.candidateBurst,
      now,
    );
    // A page joins once, and again after a room-full or a bad token: five
    // attempts at once, then one every two seconds.
    this.#joins = new TokenBucket(0.5, 5, now);
    this.#armJoinTimer();
  }

  /** The joined session, if any. */
  get session(): S | undefined {
    return this.#session;
  }

  /** Whether the socket has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Handles a text frame (a string) or a binary frame (`null`). The size and
   * rate checks run as a frame arrives, even while a join or leave waits on
   * the store; only frames that pass them wait in the bounded backlog.
   */
  receive(raw: string | null): void {
    if (this.#closed) return;
    if (!this.#admit(raw)) return;
    if (this.#busy) {
      if (this.#backlog.length >= BACKLOG_LIMIT) {
        this.#rateLimited("Too many messages while joining; slow down");
        return;
      }
      this.#backlog.push(raw);
      return;
    }
    this.#handle(raw);
  }

  /** The checks every frame passes on arrival; false if it was refused. */
  #admit(raw: string | null): boolean {
    if (raw === null) return true;
    if (exceedsUtf8Bytes(raw, this.#options.maxMessageBytes)) {
      this.close(CLOSE.tooLarge);
      return false;
    }
    if (!this.#messages.take()) {
      this.#rateLimited("Too many messages; slow down");
      return false;
    }
    this.#refusedStreak = 0;
    return true;
  }

  /** The socket closed, whoever closed it. Idempotent. */
  handleClose(): void {
    // The socket is gone: a close we deferred has nothing left to do.
    clearTimeout(this.#closeTimer);
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#joinTimer);
    this.#backlog = [];
    this.#host.closed(this);
    const session = this.#session;
    if (session) {
      this.detach();
      this.#host.dropped(session);
    }
  }

  /** Sends a frame, closing the socket if the client stopped reading. */
  send(text: string): void {
    if (this.#closed) return;
    try {
      this.#socket.send(text);
    } catch {
      // The socket is closing; its close event ends this connection.
      return;
    }
    if (this.#socket.bufferedAmount > this.#options.maxBufferedBytes) {
      this.close(CLOSE.slowConsumer);
    }
  }

  /** Reports a failure found after the message was handled (queue full). */
  reportError(error: unknown, ref?: ProtocolError["ref"]): void {
    this.#fail(error, ref);
  }

  /** Closes the socket with one of the protocol's close codes. */
  close(close: CloseCode): void {
    if (this.#closed) return;
    this.#options.metrics.countClose(close.code);
    this.handleClose();
    // Deno 2.9 drops a close frame asked for while it is still handing us
    // frames of the same read (a client's burst) and ends the stream without
    // it. Closing on the next macrotask, after the burst, lets the close code
    // reach the client.
    this.#closeTimer = setTimeout(() => {
      try {
        this.#socket.close(close.code, close.reason);
      } catch {
        // Already closed.
      }
    }, 0);
  }

  /** Whether the client's address may knock on a locked room now. */
  allowKnock(): boolean {
    return this.#client.allowKnock?.() ?? true;
  }

  /**
   * While the socket knocks on a locked room, the join timeout is off (the
   * knock has its own); when the knock ends without a session, it is on.
   */
  knocking(active: boolean): void {
    if (active) clearTimeout(this.#joinTimer);
    else if (!this.#session && !this.#closed) this.#armJoinTimer();
  }

  /**
   * Runs `task` in this socket's order, as if a message had started it
   * (an admitted knock joins this way); its errors go to the client.
   */
  run(task: () => Promise<void>, ref?: Ref): void {
    if (this.#closed) return;
    const start = () => this.#await(task(), ref);
    if (this.#busy) this.#backlog.push(start);
    else start();
  }

  /** Binds a joined session to this socket (the host calls it). */
  attach(session: S): void {
    this.#session = session;
    clearTimeout(this.#joinTimer);
  }

  /** Unbinds the session from this socket (leave, replace). */
  detach(): void {
    const session = this.#session;
    if (session?.conn === this) session.conn = undefined;
    this.#session = undefined;
    if (!this.#closed) this.#armJoinTimer();
  }

  #handle(raw: string | null): void {
    let ref: ProtocolError["ref"];
    try {
      if (raw === null) {
        throw new ProtocolError(
          "binary-frame",
          "Binary frames are not supported; send JSON text",
        );
      }
      const msg = parseClientMessage(raw);
      ref = msg.ref;
      this.#options.inspect(msg);
      switch (msg.type) {
        case "signal": {
          const { candidate } = inspectSignalData(msg.data, this.#options, ref);
          if (candidate && !this.#candidates.take()) {
            this.#rateLimited("Too many ICE candidates; slow down", ref);
            return;
          }
          // Timing every relay would cost the hot path two clock reads;
          // one in 16 shows the distribution just as well.
          if ((++this.#relays & 15) !== 0) {
            this.#host.relay(this, raw, msg);
            return;
          }
          const start = performance.now();
          this.#host.relay(this, raw, msg);
          this.#options.metrics.observeRelay(
            (performance.now() - start) / 1000,
          );
          return;
        }
        case "ping":
          this.send(
            msg.ref === undefined
              ? '{"type":"pong"}'
              : encode({ type: "pong", ref: msg.ref }),
          );
          return;
        case "join":
          if (this.#session) {
            throw new ProtocolError(
              "already-joined",
              "This socket already joined a room; send leave first",
              msg.ref,
            );
          }
          if (!this.#joins.take() || this.#client.allowJoin?.() === false) {
            this.#rateLimited("Too many join attempts; wait a little", ref);
            return;
          }
          this.#await(this.#timedJoin(msg), msg.ref);
          return;
        case "leave":
          this.#await(this.#host.leave(this, msg.unload ?? false), msg.ref);
          return;
        case "ice-servers":
          this.send(encode(this.#host.iceServers(this, msg.ref)));
          return;
        case "lock":
        case "admit":
        case "deny":
        case "remove":
          this.#await(this.#host.control(this, msg), msg.ref);
          return;
      }
    } catch (error) {
      this.#fail(error, ref);
    }
  }

  /** Holds later messages until `pending` settles. */
  #await(pending: Promise<void>, ref: ProtocolError["ref"]): void {
    this.#busy = true;
    pending.catch((error) => this.#fail(error, ref)).finally(() => {
      this.#busy = false;
      while (!this.#busy && this.#backlog.length > 0 && !this.#closed) {
        const next = this.#backlog.shift() ?? null;
        if (typeof next === "function") next();
        else this.#handle(next);
      }
    });
  }

  #fail(error: unknown, ref: ProtocolError["ref"]): void {
    let failure: ProtocolError;
    if (error instanceof ProtocolError) {
      failure = error;
    } else if (error instanceof StoreUnavailableError) {
      this.#options.log.warn("store.unavailable", { error: error.message });
      failure = new ProtocolError(
        "unavailable",
        "Storage is unavailable; try again in a few seconds",
        ref,
      );
    } else {
      this.#options.log.error("handler.failed", {
        error: error instanceof Error ? error.stack : String(error),
      });
      failure = new ProtocolError("internal", "Internal server error", ref);
    }
    this.#options.metrics.countError(failure.code);
    const msg: ServerMessage = {
      type: "error",
      code: failure.code,
      message: failure.message,
    };
    const errorRef = failure.ref ?? ref;
    if (errorRef !== undefined) msg.ref = errorRef;
    this.send(encode(msg));
    if (ERROR_CODES[failure.code].budget && --this.#budget <= 0) {
      this.close(CLOSE.protocolError);
    }
  }

  async #timedJoin(msg: JoinMessage): Promise<void> {
    const start = performance.now();
    await this.#host.join(this, msg);
    this.#options.metrics.observeJoin((performance.now() - start) / 1000);
  }

  /** Refuses a message; a client that keeps pushing is closed. */
  #rateLimited(message: string, ref?: ProtocolError["ref"]): void {
    this.#fail(new ProtocolError("rate-limited", message, ref), ref);
    if (++this.#refusedStreak >= RATE_LIMIT_STREAK_CLOSE) {
      this.close(CLOSE.rateLimited);
    }
  }

  #armJoinTimer(): void {
    clearTimeout(this.#joinTimer);
    this.#joinTimer = setTimeout(
      () => this.close(CLOSE.joinTimeout),
      this.#options.joinTimeoutMs,
    );
  }
}

/**
 * The signaling hub: live sessions, the rooms they are in, and the relay
 * between them. It sees sockets only through {@linkcode PeerSocket} and
 * storage only through {@linkcode RoomStore}, so tests can drive it without a
 * network and the store can be SQLite or Redis.
 *
 * Invariants:
 * - The store is the truth about who is in which room and which sessions may
 *   resume; the hub's maps are the live view of the rooms it has loaded.
 *   A room is loaded from the store before any change to it, so after a
 *   restart away peers are members again as soon as anyone touches the room.
 * - Relaying a signal touches only memory: no store call, no re-serialising.
 * - A connection handles one message at a time. While a join or leave waits
 *   for the store, later messages wait in a backlog, so a `signal` sent right
 *   after `join` is handled after the join.
 *
 * @module
 */
import {
  type ClientMessage,
  CLOSE,
  type CloseCode,
  encode,
  ERROR_CODES,
  inspectSignalData,
  type JoinMessage,
  type Limits,
  parseClientMessage,
  ProtocolError,
  relayedSignal,
  type ServerMessage,
  type SignalMessage,
  utf8LengthUpTo,
} from "./protocol.ts";
import { newToken, randomId, secretMatches, splitToken } from "./ids.ts";
import type { IceServerList } from "./ice_servers.ts";
import { TokenBucket } from "./limits.ts";
import { type Logger, SILENT_LOGGER } from "./log.ts";
import {
  type PeerRecord,
  type RoomStore,
  StoreUnavailableError,
} from "../storage/mod.ts";

/** The hub's view of a WebSocket: what it sends to and how it closes it. */
export interface PeerSocket {
  /** Sends one text frame. */
  send(text: string): void;
  /** Closes the socket; later calls do nothing. */
  close(code: number, reason: string): void;
  /** Bytes queued for sending and not yet written to the network. */
  readonly bufferedAmount: number;
}

/** Options for {@linkcode Hub}; every field has a default. */
export interface HubOptions {
  /** @default {8} */
  maxRoomSize?: number;
  /** @default {30_000} */
  resumeGraceMs?: number;
  /** @default {300_000} */
  roomTtlMs?: number;
  /** Messages kept for an away peer. @default {256} */
  queueLimit?: number;
  /** Protocol errors a socket may cause before it is closed. @default {16} */
  errorBudget?: number;
  /** @default {10_000} */
  joinTimeoutMs?: number;
  /** @default {65_536} */
  maxMessageBytes?: number;
  /** @default {20_000} */
  pingIntervalMs?: number;
  /** Most rows one sweep step removes. @default {200} */
  sweepBatch?: number;
  /** A socket whose send buffer passes this is closed. @default {1_048_576} */
  maxBufferedBytes?: number;
  /** Sustained messages per second per socket. @default {50} */
  messageRate?: number;
  /** Messages a socket may send at once. @default {200} */
  messageBurst?: number;
  /** Candidates a peer may send at once; refilled at a tenth per second. @default {100} */
  candidateBurst?: number;
  /** @default {32_768} */
  maxSdpBytes?: number;
  /** @default {1024} */
  maxCandidateBytes?: number;
  /**
   * Called with every parsed message before it is handled. A test hook: a
   * hook that throws shows how the hub survives a fault in a handler.
   * @default {undefined}
   */
  inspect?: (msg: ClientMessage) => void;
  /** ICE servers handed to a peer in `joined`. @default {no servers} */
  iceServers?: (peerId: string) => IceServerList;
  /** @default {Date.now} */
  now?: () => number;
  /** @default {SILENT_LOGGER} */
  log?: Logger;
}

/** A peer's live state: its connection if present, its queue if away. */
interface Session {
  readonly peerId: string;
  readonly roomId: string;
  readonly name: string;
  conn?: Connection;
  queue: string[];
}

/** Counters for `/health` and `/metrics`. */
export interface HubStats {
  connections: number;
  rooms: number;
  sessions: number;
  joins: number;
  resumes: number;
  relayed: number;
  errors: number;
}

/** The signaling hub for one server instance. */
export class Hub {
  readonly #store: RoomStore;
  readonly #options: Required<HubOptions>;
  readonly #sessions = new Map<string, Session>();
  readonly #rooms = new Map<string, Map<string, Session>>();
  readonly #loading = new Map<string, Promise<Map<string, Session>>>();
  readonly #connections = new Set<Connection>();
  /** Store writes that failed and are retried on each sweep. */
  #retries: (() => Promise<unknown>)[] = [];
  #closed = false;
  readonly stats: HubStats = {
    connections: 0,
    rooms: 0,
    sessions: 0,
    joins: 0,
    resumes: 0,
    relayed: 0,
    errors: 0,
  };

  constructor(store: RoomStore, options: HubOptions = {}) {
    this.#store = store;
    this.#options = {
      maxRoomSize: 8,
      resumeGraceMs: 30_000,
      roomTtlMs: 300_000,
      queueLimit: 256,
      errorBudget: 16,
      joinTimeoutMs: 10_000,
      maxMessageBytes: 65_536,
      pingIntervalMs: 20_000,
      sweepBatch: 200,
      maxBufferedBytes: 1_048_576,
      messageRate: 50,
      messageBurst: 200,
      candidateBurst: 100,
      maxSdpBytes: 32_768,
      maxCandidateBytes: 1024,
      inspect: () => {},
      iceServers: () => ({ iceServers: [] }),
      now: Date.now,
      log: SILENT_LOGGER,
      ...definedOnly(options),
    };
  }

  /** The limits clients are told in `joined`. */
  get limits(): Limits {
    const o = this.#options;
    return {
      maxRoomSize: o.maxRoomSize,
      maxMessageBytes: o.maxMessageBytes,
      resumeGraceMs: o.resumeGraceMs,
      queueLimit: o.queueLimit,
      pingIntervalMs: o.pingIntervalMs,
    };
  }

  /** Live counts, refreshed on each read. */
  snapshot(): HubStats {
    this.stats.connections = this.#connections.size;
    this.stats.rooms = this.#rooms.size;
    this.stats.sessions = this.#sessions.size;
    return { ...this.stats };
  }

  /**
   * Prepares the store after a start: every stored peer becomes away, with
   * its grace counted from now.
   */
  async recover(): Promise<number> {
    return await this.#store.markAllAway(this.#options.now());
  }

  /** Whether the hub is shutting down and takes no new sockets. */
  get draining(): boolean {
    return this.#closed;
  }

  /** Takes a new socket; the returned connection gets its events. */
  connect(socket: PeerSocket, client: ClientHooks = {}): Connection {
    const conn = new Connection(this, socket, this.#options, client);
    if (this.#closed) {
      conn.close(CLOSE.restart);
      return conn;
    }
    this.#connections.add(conn);
    return conn;
  }

  /**
   * Removes, in one bounded step, peers whose grace ran out (telling their
   * rooms) and expired empty rooms; retries failed writes first.
   */
  async sweep(): Promise<void> {
    const retries = this.#retries;
    this.#retries = [];
    for (const retry of retries) {
      await retry().catch(() => this.#retries.push(retry));
    }
    const o = this.#options;
    const result = await this.#store.sweep(o.now(), {
      graceMs: o.resumeGraceMs,
      roomTtlMs: o.roomTtlMs,
      batch: o.sweepBatch,
    });
    for (const { peerId } of result.peers) {
      const session = this.#sessions.get(peerId);
      // A session that is connected again was resumed after the store
      // picked it: the store's row is gone, so end the session cleanly.
      session?.conn?.detach();
      if (session) this.#dropSession(session);
      o.log.debug("peer.expired", { peer: peerId });
    }
    if (result.peers.length || result.rooms.length) {
      o.log.info("sweep", {
        peers: result.peers.length,
        rooms: result.rooms.length,
      });
    }
  }

  /** Closes every socket with the restart code and refuses new ones. */
  shutdown(): void {
    this.#closed = true;
    for (const conn of this.#connections) conn.close(CLOSE.restart);
  }

  // ---- called by Connection ----

  /** @internal */
  forget(conn: Connection): void {
    this.#connections.delete(conn);
  }

  /** @internal Handles a join (new or resume) for `conn`. */
  async join(conn: Connection, msg: JoinMessage): Promise<void> {
    const o = this.#options;
    if (msg.token !== undefined) {
      await this.#resume(conn, msg);
      return;
    }
    const room = await this.#loadRoom(msg.room);
    const peerId = randomId();
    const { token, hash } = newToken(peerId);
    const record: PeerRecord = {
      peerId,
      roomId: msg.room,
      name: msg.name ?? "",
      tokenHash: hash,
      joinedAt: o.now(),
      awaySince: null,
    };
    if (await this.#store.addPeer(record, o.maxRoomSize) === "full") {
      throw new ProtocolError(
        "room-full",
        `Cannot join room "${msg.room}": room already has ${o.maxRoomSize} peers`,
        msg.ref,
      );
    }
    const session: Session = {
      peerId,
      roomId: msg.room,
      name: record.name,
      queue: [],
    };
    this.#sessions.set(peerId, session);
    const others = [...room.values()];
    room.set(peerId, session);
    this.stats.joins++;
    this.#attach(conn, session, token, false, others, msg.ref);
    const joined = encode({
      type: "peer-joined",
      peerId,
      name: session.name,
    });
    for (const other of others) this.#deliver(other, joined);
    o.log.debug("peer.joined", { room: msg.room, peer: peerId });
  }

  /** @internal Relays a signal from `conn`'s session. */
  relay(conn: Connection, raw: string, msg: SignalMessage): void {
    const from = conn.session;
    if (!from) {
      throw new ProtocolError("not-joined", "Join a room first", msg.ref);
    }
    if (msg.to === from.peerId) {
      throw new ProtocolError(
        "bad-message",
        "Cannot signal yourself",
        msg.ref,
      );
    }
    const target = this.#rooms.get(from.roomId)?.get(msg.to);
    if (!target) {
      throw new ProtocolError(
        "unknown-peer",
        `No peer "${msg.to.slice(0, 32)}" in this room`,
        msg.ref,
      );
    }
    const text = relayedSignal(raw, msg, from.peerId);
    if (!this.#deliver(target, text)) {
      throw new ProtocolError(
        "queue-full",
        `Peer "${target.peerId}" is away and its queue is full`,
        msg.ref,
      );
    }
    this.stats.relayed++;
  }

  /** @internal Fresh ICE servers for `conn`'s session. */
  iceServers(conn: Connection, ref: JoinMessage["ref"]): ServerMessage {
    const session = conn.session;
    if (!session) {
      throw new ProtocolError("not-joined", "Join a room first", ref);
    }
    const ice = this.#options.iceServers(session.peerId);
    const msg: ServerMessage = {
      type: "ice-servers",
      iceServers: ice.iceServers,
    };
    if (ice.ttlMs !== undefined) msg.iceServersTtlMs = ice.ttlMs;
    if (ref !== undefined) msg.ref = ref;
    return msg;
  }

  /** @internal Handles `leave`: the session ends and the room is told. */
  async leave(conn: Connection): Promise<void> {
    const session = conn.session;
    if (!session) throw new ProtocolError("not-joined", "Join a room first");
    conn.detach();
    this.#dropSession(session);
    await this.#storeWrite(() =>
      this.#store.removePeer(session.peerId, this.#options.now())
    );
    this.#options.log.debug("peer.left", {
      room: session.roomId,
      peer: session.peerId,
    });
  }

  /** @internal The socket of a joined session dropped without `leave`. */
  drop(session: Session): void {
    const now = this.#options.now();
    void this.#storeWrite(() => this.#store.setAway(session.peerId, now));
    this.#options.log.debug("peer.away", {
      room: session.roomId,
      peer: session.peerId,
    });
  }

  async #resume(conn: Connection, msg: JoinMessage): Promise<void> {
    const refuse = () =>
      new ProtocolError(
        "invalid-token",
        "Session cannot be resumed: unknown or expired token",
        msg.ref,
      );
    const parts = splitToken(msg.token ?? "");
    if (!parts) throw refuse();
    const record = await this.#store.getPeer(parts.peerId);
    if (
      !record || !secretMatches(parts.secret, record.tokenHash) ||
      record.roomId !== msg.room
    ) {
      throw refuse();
    }
    const room = await this.#loadRoom(record.roomId);
    await this.#store.setAway(record.peerId, null);
    // The sweeper may have removed the peer while we waited.
    if (!await this.#store.getPeer(record.peerId)) throw refuse();
    let session = room.get(record.peerId);
    if (!session) {
      session = this.#sessionOf(record);
      room.set(session.peerId, session);
    }
    if (session.conn && session.conn !== conn) {
      const old = session.conn;
      old.detach();
      old.close(CLOSE.replaced);
    }
    const others = [...room.values()].filter((s) => s !== session);
    this.stats.resumes++;
    this.#attach(conn, session, msg.token ?? "", true, others, msg.ref);
    const queued = session.queue;
    session.queue = [];
    for (const text of queued) conn.send(text);
    this.#options.log.debug("peer.resumed", {
      room: session.roomId,
      peer: session.peerId,
      queued: queued.length,
    });
  }

  #attach(
    conn: Connection,
    session: Session,
    token: string,
    resumed: boolean,
    others: Session[],
    ref: JoinMessage["ref"],
  ): void {
    session.conn = conn;
    conn.attach(session);
    const ice = this.#options.iceServers(session.peerId);
    const joined: ServerMessage = {
      type: "joined",
      room: session.roomId,
      peerId: session.peerId,
      token,
      resumed,
      peers: others.map((s) => ({ peerId: s.peerId, name: s.name })),
      iceServers: ice.iceServers,
      limits: this.limits,
    };
    if (ice.ttlMs !== undefined) joined.iceServersTtlMs = ice.ttlMs;
    if (ref !== undefined) joined.ref = ref;
    conn.send(encode(joined));
    // The socket may have closed while the store was busy: then the session
    // is away from the start.
    if (conn.closed) {
      conn.detach();
      this.drop(session);
    }
  }

  /** Sends to a present peer, or queues for an away one; false if full. */
  #deliver(session: Session, text: string): boolean {
    if (session.conn) {
      session.conn.send(text);
      return true;
    }
    if (session.queue.length >= this.#options.queueLimit) return false;
    session.queue.push(text);
    return true;
  }

  /** Removes a session from memory and tells its room. */
  #dropSession(session: Session): void {
    this.#sessions.delete(session.peerId);
    const room = this.#rooms.get(session.roomId);
    if (!room?.delete(session.peerId)) return;
    if (room.size === 0) {
      this.#rooms.delete(session.roomId);
      return;
    }
    const left = encode({ type: "peer-left", peerId: session.peerId });
    for (const other of room.values()) this.#deliver(other, left);
  }

  /** The room's live members, loaded from the store the first time. */
  #loadRoom(roomId: string): Promise<Map<string, Session>> {
    const room = this.#rooms.get(roomId);
    if (room) return Promise.resolve(room);
    let loading = this.#loading.get(roomId);
    if (!loading) {
      loading = this.#store.listPeers(roomId).then((records) => {
        let room = this.#rooms.get(roomId);
        if (!room) {
          room = new Map();
          this.#rooms.set(roomId, room);
        }
        for (const record of records) {
          if (!room.has(record.peerId)) {
            room.set(record.peerId, this.#sessionOf(record));
          }
        }
        return room;
      }).finally(() => this.#loading.delete(roomId));
      this.#loading.set(roomId, loading);
    }
    return loading;
  }

  #sessionOf(record: PeerRecord): Session {
    let session = this.#sessions.get(record.peerId);
    if (!session) {
      session = {
        peerId: record.peerId,
        roomId: record.roomId,
        name: record.name,
        queue: [],
      };
      this.#sessions.set(record.peerId, session);
    }
    return session;
  }

  /** Runs a store write; if storage is down, retries it on later sweeps. */
  async #storeWrite(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.#options.log.warn("store.write_failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      this.#retries.push(write);
    }
  }
}

/** `options` without the fields set to undefined, which would hide defaults. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

/** What a connection may ask about the client address behind it. */
export interface ClientHooks {
  /** Whether the address may make another join attempt now. */
  allowJoin?: () => boolean;
  /** Called once when the socket closes. */
  onClose?: () => void;
}

/**
 * Rate-limited messages in a row after which the socket is closed: a client
 * that keeps sending into a refusal is not going to slow down.
 */
const RATE_LIMIT_STREAK_CLOSE = 50;

/** One WebSocket's protocol state. */
export class Connection {
  readonly #hub: Hub;
  readonly #socket: PeerSocket;
  readonly #options: Required<HubOptions>;
  readonly #client: ClientHooks;
  readonly #messages: TokenBucket;
  readonly #candidates: TokenBucket;
  readonly #joins: TokenBucket;
  #refusedStreak = 0;
  #session?: Session;
  #budget: number;
  #busy = false;
  #backlog: (string | null)[] = [];
  #joinTimer?: ReturnType<typeof setTimeout>;
  #closed = false;

  constructor(
    hub: Hub,
    socket: PeerSocket,
    options: Required<HubOptions>,
    client: ClientHooks = {},
  ) {
    this.#hub = hub;
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

  /** @internal The joined session, if any. */
  get session(): Session | undefined {
    return this.#session;
  }

  /** Whether the socket has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Handles a text frame (a string) or a binary frame (`null`). */
  receive(raw: string | null): void {
    if (this.#closed) return;
    if (this.#busy) {
      this.#backlog.push(raw);
      return;
    }
    this.#handle(raw);
  }

  /** The socket closed, whoever closed it. Idempotent. */
  handleClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#joinTimer);
    this.#backlog = [];
    this.#hub.forget(this);
    this.#client.onClose?.();
    const session = this.#session;
    if (session) {
      this.detach();
      this.#hub.drop(session);
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

  /** Closes the socket with one of the protocol's close codes. */
  close(close: CloseCode): void {
    try {
      this.#socket.close(close.code, close.reason);
    } catch {
      // Already closed.
    }
    this.handleClose();
  }

  /** @internal */
  attach(session: Session): void {
    this.#session = session;
    clearTimeout(this.#joinTimer);
  }

  /** @internal Unbinds the session from this socket (leave, replace). */
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
      if (utf8LengthUpTo(raw, this.#options.maxMessageBytes) === Infinity) {
        this.close(CLOSE.tooLarge);
        return;
      }
      if (!this.#messages.take()) {
        this.#rateLimited("Too many messages; slow down");
        return;
      }
      this.#refusedStreak = 0;
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
          this.#hub.relay(this, raw, msg);
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
          this.#await(this.#hub.join(this, msg), msg.ref);
          return;
        case "leave":
          this.#await(this.#hub.leave(this), msg.ref);
          return;
        case "ice-servers":
          this.send(encode(this.#hub.iceServers(this, msg.ref)));
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
        this.#handle(this.#backlog.shift() ?? null);
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
    this.#hub.stats.errors++;
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

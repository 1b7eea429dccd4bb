/**
 * The signaling hub: live sessions, the rooms they are in, and the relay
 * between them. It sees sockets only through {@linkcode PeerSocket}, storage
 * only through {@linkcode RoomStore}, and other instances only through the
 * store's optional {@linkcode Bus}, so tests drive it without a network and
 * the store can be SQLite (one instance) or Redis (many).
 *
 * Invariants:
 * - The store is the truth about who is in which room, which sessions may
 *   resume, and what is queued for away peers. The hub holds a live view of
 *   the rooms that have a member connected here ("loaded" rooms); a room is
 *   loaded from the store (and followed on the bus) before any change to it,
 *   and unloaded when its last local socket goes.
 * - Relaying a signal to a peer connected here touches only memory: no store
 *   call, no re-serialising. A peer on another instance costs one publish;
 *   only an away peer costs a store call (its queue).
 * - Membership changes are told by the instance that makes them: to its own
 *   connected members, to the queues of away members, and to the other
 *   instances on the bus, which tell their own connected members.
 *
 * @module
 */
import {
  type ClientMessage,
  CLOSE,
  encode,
  type JoinMessage,
  type Limits,
  ProtocolError,
  type Ref,
  relayedSignal,
  type ServerMessage,
  type SignalMessage,
} from "./protocol.ts";
import { newToken, randomId, secretMatches, splitToken } from "./ids.ts";
import type { IceServerList } from "./ice_servers.ts";
import { type Logger, SILENT_LOGGER } from "./log.ts";
import { type ClientHooks, Connection } from "./connection.ts";
import { Metrics } from "./metrics.ts";
import {
  type Bus,
  type PeerRecord,
  type RoomEvent,
  type RoomStore,
  StoreUnavailableError,
} from "../storage/mod.ts";

export type { ClientHooks } from "./connection.ts";
export { Connection } from "./connection.ts";

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
  /**
   * How long a peer that left with `unload` may still resume (a reload).
   * @default {5000}
   */
  unloadGraceMs?: number;
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
  /**
   * How often, at most, a sweep also checks each loaded room against the
   * store (with a bus only), so a member whose `left` event was lost goes
   * within this bound. @default {10_000}
   */
  reconcileIntervalMs?: number;
  /**
   * Failed store writes kept for retry; past it the oldest is given up.
   * @default {1000}
   */
  retryLimit?: number;
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
  /** Where latencies and counts by code go. @default {new Metrics()} */
  metrics?: Metrics;
}

/** {@linkcode HubOptions} with every default filled in. */
export type ResolvedHubOptions = Required<HubOptions>;

/** A member of a loaded room. */
export interface Session {
  readonly peerId: string;
  readonly roomId: string;
  readonly name: string;
  /** Its socket, when connected to this instance. */
  conn?: Connection;
  /** The instance holding its socket, when connected to another one. */
  instanceId: string | null;
  /** While it resumes here: frames that arrived for it meanwhile. */
  pending?: string[];
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

/**
 * How many times a frame for a peer may be passed on between instances
 * while the peer moves; a bound, so a frame cannot circle forever.
 */
const MAX_HOPS = 3;

/** The signaling hub for one server instance. */
export class Hub {
  readonly #store: RoomStore;
  readonly #bus?: Bus;
  readonly #instanceId: string;
  readonly #options: ResolvedHubOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #rooms = new Map<string, Map<string, Session>>();
  readonly #loading = new Map<string, Promise<Map<string, Session>>>();
  /** Events for rooms still loading, applied once they are loaded. */
  readonly #early = new Map<string, RoomEvent[]>();
  readonly #connections = new Set<Connection>();
  /** Joins and resumes in flight per room: a pinned room stays loaded. */
  readonly #pins = new Map<string, number>();
  /** Store writes that failed and are retried on each sweep. */
  #retries: (() => Promise<unknown>)[] = [];
  /**
   * Per loaded room, bumped on every membership change: a reconciliation
   * whose store read raced with a change is dropped, not applied.
   */
  readonly #versions = new Map<string, number>();
  #reconciledAt = 0;
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
    this.#bus = store.bus;
    this.#instanceId = store.bus?.instanceId ?? "local";
    this.#options = {
      maxRoomSize: 8,
      resumeGraceMs: 30_000,
      roomTtlMs: 300_000,
      queueLimit: 256,
      unloadGraceMs: 5000,
      errorBudget: 16,
      joinTimeoutMs: 10_000,
      maxMessageBytes: 65_536,
      pingIntervalMs: 20_000,
      sweepBatch: 200,
      reconcileIntervalMs: 10_000,
      retryLimit: 1000,
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
      metrics: new Metrics(),
      ...definedOnly(options),
    };
    this.#bus?.listen({
      peerMessage: (peerId, text, hops) => this.#fromBus(peerId, text, hops),
      roomEvent: (roomId, event) => this.#roomEvent(roomId, event),
      undeliverable: (peerId, text, hops, instanceId) =>
        this.#enqueue(peerId, text, hops, undefined, instanceId),
      resync: () => void this.#reconcileAll(),
    });
    this.#reconciledAt = this.#options.now();
  }

  /** This instance's latencies and counts by code. */
  get metrics(): Metrics {
    return this.#options.metrics;
  }

  /** Whether the cross-instance bus delivers (true without one). */
  get busHealthy(): boolean {
    return this.#bus?.healthy ?? true;
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

  /** Whether the hub is shutting down and takes no new sockets. */
  get draining(): boolean {
    return this.#closed;
  }

  /**
   * Prepares the store after a start (with one instance, every stored peer
   * becomes away with its grace counted from now).
   */
  async recover(): Promise<number> {
    return await this.#store.recover(this.#instanceId, this.#options.now());
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
      await retry().catch(() => this.#retry(retry));
    }
    const o = this.#options;
    const result = await this.#store.sweep(o.now(), {
      graceMs: o.resumeGraceMs,
      roomTtlMs: o.roomTtlMs,
      batch: o.sweepBatch,
    });
    // The store hands each expired peer out once: from here on every one is
    // announced, whatever fails for another.
    for (const { peerId, roomId } of result.peers) {
      await this.#expire(peerId, roomId);
      o.log.debug("peer.expired", { peer: peerId });
    }
    if (
      this.#bus && o.now() - this.#reconciledAt >= o.reconcileIntervalMs
    ) {
      await this.#reconcileAll();
    }
    if (result.peers.length || result.rooms.length) {
      o.log.info("sweep", {
        peers: result.peers.length,
        rooms: result.rooms.length,
      });
    }
  }

  /** Store writes waiting for a retry. */
  get pendingWrites(): number {
    return this.#retries.length;
  }

  /**
   * Announces a peer the sweep removed from the store. A room loaded here
   * knows it; for one that is not, the other instances hear it on the bus
   * and the away members find it in their queues.
   */
  async #expire(peerId: string, roomId: string): Promise<void> {
    const room = this.#rooms.get(roomId);
    const session = room?.get(peerId);
    if (session) {
      if (session.conn) {
        // Gone from the store while connected here (its row was swept in
        // the moment it resumed): end the socket so the client joins again.
        const conn = session.conn;
        conn.detach();
        conn.close(CLOSE.restart);
      }
      this.#removeMember(roomId, peerId, true);
      this.#unloadIfIdle(roomId);
      return;
    }
    this.#bus?.publish(roomId, { kind: "left", peerId });
    const text = encode({ type: "peer-left", peerId });
    const tellAway = async () => {
      for (const record of await this.#store.listPeers(roomId)) {
        if (record.awaySince !== null) this.#enqueue(record.peerId, text, 0);
      }
    };
    try {
      await tellAway();
    } catch (error) {
      this.#options.log.warn("sweep.announce_failed", {
        room: roomId,
        error: error instanceof Error ? error.message : String(error),
      });
      this.#retry(tellAway);
    }
  }

  /**
   * Checks every loaded room against the store: members the store no longer
   * has leave (their `left` was lost), members it has that this instance
   * missed join. Runs on a bus reconnect and every `reconcileIntervalMs`.
   */
  async #reconcileAll(): Promise<void> {
    this.#reconciledAt = this.#options.now();
    for (const roomId of [...this.#rooms.keys()]) {
      try {
        await this.#reconcile(roomId);
      } catch (error) {
        this.#options.log.warn("reconcile.failed", {
          room: roomId,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  async #reconcile(roomId: string): Promise<void> {
    const room = this.#rooms.get(roomId);
    if (!room) return;
    const version = this.#versions.get(roomId);
    const records = await this.#store.listPeers(roomId);
    // A change while the store answered: its view may be older than ours.
    if (this.#rooms.get(roomId) !== room) return;
    if (this.#versions.get(roomId) !== version) return;
    const stored = new Map(records.map((r) => [r.peerId, r]));
    for (const [peerId, session] of room) {
      if (session.conn || session.pending || stored.has(peerId)) continue;
      this.#options.log.info("reconcile.left", { room: roomId, peer: peerId });
      this.#removeMember(roomId, peerId, false);
    }
    for (const record of records) {
      const session = room.get(record.peerId);
      const instanceId = record.awaySince === null
        ? record.instanceId ?? null
        : null;
      if (session) {
        if (!session.conn && !session.pending) session.instanceId = instanceId;
        continue;
      }
      this.#options.log.info("reconcile.joined", {
        room: roomId,
        peer: record.peerId,
      });
      const added = this.#sessionOf(record, instanceId);
      room.set(record.peerId, added);
      this.#tellRoom(
        room,
        encode({ type: "peer-joined", peerId: added.peerId, name: added.name }),
        added,
        false,
      );
    }
    this.#unloadIfIdle(roomId);
  }

  /** Keeps a failed store write for the next sweeps, within `retryLimit`. */
  #retry(write: () => Promise<unknown>): void {
    this.#retries.push(write);
    if (this.#retries.length > this.#options.retryLimit) {
      this.#retries.shift();
      this.#options.log.error("store.retry_dropped", {
        limit: this.#options.retryLimit,
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
    this.#pins.set(msg.room, (this.#pins.get(msg.room) ?? 0) + 1);
    try {
      if (msg.token !== undefined) await this.#resume(conn, msg);
      else await this.#joinNew(conn, msg);
    } finally {
      const pins = (this.#pins.get(msg.room) ?? 1) - 1;
      if (pins > 0) this.#pins.set(msg.room, pins);
      else this.#pins.delete(msg.room);
      this.#unloadIfIdle(msg.room);
    }
  }

  async #joinNew(conn: Connection, msg: JoinMessage): Promise<void> {
    const o = this.#options;
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
      instanceId: this.#instanceId,
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
      instanceId: this.#instanceId,
    };
    const others = [...room.values()];
    room.set(peerId, session);
    this.#touch(msg.room);
    this.#sessions.set(peerId, session);
    this.stats.joins++;
    this.#attach(conn, session, token, false, others, msg.ref);
    this.#tellRoom(
      room,
      encode({ type: "peer-joined", peerId, name: session.name }),
      session,
      true,
    );
    this.#bus?.publish(msg.room, {
      kind: "joined",
      peerId,
      name: session.name,
      instanceId: this.#instanceId,
    });
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
    this.stats.relayed++;
    const text = relayedSignal(raw, msg, from.peerId);
    if (target.conn) {
      target.conn.send(text);
      return;
    }
    this.#deliver(target, text, 0, (status) =>
      conn.reportError(
        status === "full"
          ? new ProtocolError(
            "queue-full",
            `Peer "${target.peerId}" is away and its queue is full`,
            msg.ref,
          )
          : new ProtocolError(
            "unknown-peer",
            `No peer "${target.peerId}" in this room`,
            msg.ref,
          ),
        msg.ref,
      ));
  }

  /** @internal Fresh ICE servers for `conn`'s session. */
  iceServers(conn: Connection, ref: Ref | undefined): ServerMessage {
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

  /**
   * @internal Handles `leave`: the session ends and the room is told. With
   * `unload` the peer only goes away, as if its socket had dropped that long
   * ago that `unloadGraceMs` of its grace remain: a reload resumes it, a
   * closed tab is swept a few seconds later.
   */
  async leave(conn: Connection, unload: boolean): Promise<void> {
    const session = conn.session;
    if (!session) throw new ProtocolError("not-joined", "Join a room first");
    conn.detach();
    if (unload) {
      const o = this.#options;
      const keep = Math.min(o.unloadGraceMs, o.resumeGraceMs);
      this.drop(session, o.now() - (o.resumeGraceMs - keep));
      return;
    }
    this.#removeMember(session.roomId, session.peerId, true);
    this.#unloadIfIdle(session.roomId);
    await this.#storeWrite(() =>
      this.#store.removePeer(session.peerId, this.#options.now())
    );
    this.#options.log.debug("peer.left", {
      room: session.roomId,
      peer: session.peerId,
    });
  }

  /**
   * @internal The socket of a joined session dropped without `leave`; the
   * grace is counted from `since`.
   */
  drop(session: Session, since = this.#options.now()): void {
    session.instanceId = null;
    const write = () =>
      // A retry must not mark away a peer that came back meanwhile.
      session.conn
        ? Promise.resolve()
        : this.#store.setAway(session.peerId, since, this.#instanceId);
    void this.#storeWrite(write);
    this.#bus?.publish(session.roomId, {
      kind: "away",
      peerId: session.peerId,
    });
    this.#unloadIfIdle(session.roomId);
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
    let session = room.get(record.peerId);
    if (!session) {
      session = this.#sessionOf(record, null);
      room.set(session.peerId, session);
      this.#touch(record.roomId);
    }
    if (session.conn && session.conn !== conn) {
      // The newer socket wins (a second tab, or a socket thought dead).
      const old = session.conn;
      old.detach();
      old.close(CLOSE.replaced);
    }
    // Frames that reach this instance before the store says the peer is
    // present here wait in `pending`, behind the queue the store hands back.
    const pending: string[] = [];
    session.pending = pending;
    let queued: string[] | undefined;
    try {
      queued = await this.#store.resume(record.peerId, this.#instanceId);
    } finally {
      if (session.pending === pending) session.pending = undefined;
    }
    if (!queued) {
      // Swept while we waited.
      this.#removeMember(record.roomId, record.peerId, false);
      throw refuse();
    }
    session.instanceId = this.#instanceId;
    const others = [...room.values()].filter((s) => s !== session);
    this.stats.resumes++;
    this.#attach(conn, session, msg.token ?? "", true, others, msg.ref);
    for (const text of queued) conn.send(text);
    for (const text of pending) conn.send(text);
    this.#bus?.publish(record.roomId, {
      kind: "present",
      peerId: record.peerId,
      instanceId: this.#instanceId,
    });
    this.#options.log.debug("peer.resumed", {
      room: session.roomId,
      peer: session.peerId,
      queued: queued.length + pending.length,
    });
  }

  #attach(
    conn: Connection,
    session: Session,
    token: string,
    resumed: boolean,
    others: Session[],
    ref: Ref | undefined,
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

  /**
   * Delivers a frame to a member that is not connected here: to the instance
   * holding it, or to its queue in the store. `onFull` runs if the queue is
   * full.
   */
  #deliver(
    session: Session,
    text: string,
    hops: number,
    onFail?: (status: "full" | "gone") => void,
  ): void {
    if (session.conn) {
      session.conn.send(text);
    } else if (session.pending) {
      session.pending.push(text);
    } else if (
      this.#bus && session.instanceId !== null &&
      session.instanceId !== this.#instanceId
    ) {
      this.#bus.sendToPeer(session.instanceId, session.peerId, text, hops);
    } else {
      this.#enqueue(session.peerId, text, hops, onFail);
    }
  }

  #enqueue(
    peerId: string,
    text: string,
    hops: number,
    onFail?: (status: "full" | "gone") => void,
    unreachable?: string,
  ): void {
    const limit = this.#options.queueLimit;
    this.#store.enqueue(peerId, text, limit, unreachable).then(
      (result) => {
        if (result.status === "full") {
          onFail?.("full");
        } else if (result.status === "gone") {
          onFail?.("gone");
          // The store removed it and the `left` never reached us: a ghost.
          const ghost = this.#sessions.get(peerId);
          if (ghost && !ghost.conn && !ghost.pending) {
            this.#removeMember(ghost.roomId, peerId, false);
            this.#unloadIfIdle(ghost.roomId);
          }
        } else if (result.status === "present") {
          const here = this.#sessions.get(peerId);
          if (result.instanceId === this.#instanceId) {
            if (here?.conn) here.conn.send(text);
            else here?.pending?.push(text);
          } else if (this.#bus && hops < MAX_HOPS) {
            if (here) here.instanceId = result.instanceId;
            this.#bus.sendToPeer(result.instanceId, peerId, text, hops + 1);
          }
        }
      },
      (error) => {
        this.#options.log.warn("queue.failed", {
          peer: peerId,
          error: error instanceof Error ? error.message : String(error),
        });
        onFail?.("full");
      },
    );
  }

  /**
   * Tells a room's members something. `origin` is true on the instance that
   * made the change: it also fills the queues of away members; the other
   * instances only tell the members connected to them.
   */
  #tellRoom(
    room: Map<string, Session>,
    text: string,
    about: Session | undefined,
    origin: boolean,
  ): void {
    for (const member of room.values()) {
      if (member === about) continue;
      if (member.conn) {
        member.conn.send(text);
      } else if (member.pending) {
        member.pending.push(text);
      } else if (origin && member.instanceId === null) {
        this.#enqueue(member.peerId, text, 0);
      }
    }
  }

  /** Removes a member from a loaded room and tells the room. */
  #removeMember(roomId: string, peerId: string, origin: boolean): void {
    const room = this.#rooms.get(roomId);
    const session = room?.get(peerId);
    if (!room || !session) return;
    room.delete(peerId);
    this.#touch(roomId);
    this.#sessions.delete(peerId);
    this.#tellRoom(
      room,
      encode({ type: "peer-left", peerId }),
      session,
      origin,
    );
    if (origin) this.#bus?.publish(roomId, { kind: "left", peerId });
  }

  /** Unloads a room once no member is connected or resuming here. */
  #unloadIfIdle(roomId: string): void {
    const room = this.#rooms.get(roomId);
    if (!room || this.#loading.has(roomId) || this.#pins.has(roomId)) return;
    for (const session of room.values()) {
      if (session.conn || session.pending) return;
    }
    this.#rooms.delete(roomId);
    this.#versions.delete(roomId);
    for (const peerId of room.keys()) this.#sessions.delete(peerId);
    this.#bus?.unfollow(roomId);
  }

  /** The room's members, loaded from the store (and followed) if needed. */
  #loadRoom(roomId: string): Promise<Map<string, Session>> {
    const room = this.#rooms.get(roomId);
    if (room) return Promise.resolve(room);
    let loading = this.#loading.get(roomId);
    if (!loading) {
      this.#early.set(roomId, []);
      loading = (async () => {
        // Follow before reading, so no event falls between the two.
        await this.#bus?.follow(roomId);
        const records = await this.#store.listPeers(roomId);
        const room = new Map<string, Session>();
        for (const record of records) {
          const instanceId = record.awaySince === null
            ? record.instanceId ?? null
            : null;
          room.set(record.peerId, this.#sessionOf(record, instanceId));
        }
        this.#rooms.set(roomId, room);
        for (const event of this.#early.get(roomId) ?? []) {
          this.#applyEvent(roomId, room, event);
        }
        return room;
      })().finally(() => {
        this.#loading.delete(roomId);
        this.#early.delete(roomId);
      });
      this.#loading.set(roomId, loading);
    }
    return loading;
  }

  #sessionOf(record: PeerRecord, instanceId: string | null): Session {
    let session = this.#sessions.get(record.peerId);
    if (!session) {
      session = {
        peerId: record.peerId,
        roomId: record.roomId,
        name: record.name,
        instanceId,
      };
      this.#sessions.set(record.peerId, session);
    }
    return session;
  }

  /** A frame another instance sent for a peer it believes is here. */
  #fromBus(peerId: string, text: string, hops: number): void {
    const session = this.#sessions.get(peerId);
    if (session?.conn) session.conn.send(text);
    else if (session?.pending) session.pending.push(text);
    // It moved or went away: the store knows where it belongs now.
    else this.#enqueue(peerId, text, hops);
  }

  #roomEvent(roomId: string, event: RoomEvent): void {
    const early = this.#early.get(roomId);
    if (early) {
      early.push(event);
      return;
    }
    const room = this.#rooms.get(roomId);
    if (room) {
      this.#touch(roomId);
      this.#applyEvent(roomId, room, event);
    }
  }

  #touch(roomId: string): void {
    this.#versions.set(roomId, (this.#versions.get(roomId) ?? 0) + 1);
  }

  #applyEvent(
    roomId: string,
    room: Map<string, Session>,
    event: RoomEvent,
  ): void {
    switch (event.kind) {
      case "joined": {
        if (room.has(event.peerId)) return;
        const session: Session = {
          peerId: event.peerId,
          roomId,
          name: event.name,
          instanceId: event.instanceId,
        };
        room.set(event.peerId, session);
        this.#sessions.set(event.peerId, session);
        this.#tellRoom(
          room,
          encode({
            type: "peer-joined",
            peerId: event.peerId,
            name: event.name,
          }),
          session,
          false,
        );
        return;
      }
      case "present": {
        const session = room.get(event.peerId);
        if (!session) return;
        if (session.conn) {
          // It resumed on another instance: that socket wins.
          const old = session.conn;
          old.detach();
          old.close(CLOSE.replaced);
        }
        session.instanceId = event.instanceId;
        this.#unloadIfIdle(roomId);
        return;
      }
      case "away": {
        const session = room.get(event.peerId);
        if (session && !session.conn) session.instanceId = null;
        return;
      }
      case "left":
        this.#removeMember(roomId, event.peerId, false);
        this.#unloadIfIdle(roomId);
        return;
    }
  }

  /** Runs a store write; if storage is down, retries it on later sweeps. */
  async #storeWrite(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) {
        // A bug, not an outage: retrying would only repeat it.
        this.#options.log.error("store.write_failed", {
          error: error instanceof Error ? error.stack : String(error),
        });
        return;
      }
      this.#options.log.warn("store.write_failed", { error: error.message });
      this.#retry(write);
    }
  }
}

/** `options` without the fields set to undefined, which would hide defaults. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

/**
 * The signaling hub: joins, resumes, leaves and relays for one server
 * instance. It wires the {@linkcode RoomRegistry} (who is in which room
 * here) to {@linkcode Delivery} (frames to members wherever they are), and
 * is the {@linkcode ConnectionHost} of every socket. It sees sockets only
 * through {@linkcode PeerSocket}, storage only through
 * {@linkcode RoomStore}, and other instances only through the store's
 * optional {@linkcode Bus}, so tests drive it without a network.
 *
 * Invariants:
 * - The store is the truth about who is in which room, which sessions may
 *   resume, and what is queued for away peers; the registry is this
 *   instance's live view of it.
 * - Membership changes are told by the instance that makes them: to its own
 *   connected members, to the queues of away members, and to the other
 *   instances on the bus, which tell their own connected members. A told
 *   change that gets lost is repaired by reconciling with the store.
 * - A store write that fails because storage is down is retried on later
 *   sweeps, at most `retryLimit` of them; one that fails for any other
 *   reason is a bug, logged with its stack and not retried.
 *
 * @module
 */
import {
  type AnswerMessage,
  CLOSE,
  type JoinMessage,
  type Limits,
  type LockMessage,
  ProtocolError,
  type Ref,
  relayedSignal,
  type RemoveMessage,
  type ServerMessage,
  type SignalMessage,
} from "./protocol.ts";
import {
  type ClientHooks,
  Connection,
  type ConnectionHost,
  type PeerSocket,
} from "./connection.ts";
import type { Metrics } from "./metrics.ts";
import {
  type HubOptions,
  type HubStats,
  type ResolvedHubOptions,
  resolveHubOptions,
} from "./hub_options.ts";
import { RoomRegistry, type Session } from "./room_registry.ts";
import { Delivery } from "./delivery.ts";
import { Admission } from "./admission.ts";
import { RoomControls } from "./room_controls.ts";
import { type RoomStore, StoreUnavailableError } from "../storage/mod.ts";

export type { ClientHooks, PeerSocket } from "./connection.ts";
export type { Session } from "./room_registry.ts";
export {
  HUB_CONFIG_KEYS,
  type HubOptions,
  type HubStats,
} from "./hub_options.ts";

/** The signaling hub for one server instance. */
export class Hub implements ConnectionHost<Session> {
  readonly #store: RoomStore;
  readonly #options: ResolvedHubOptions;
  readonly #registry: RoomRegistry;
  readonly #delivery: Delivery;
  readonly #admission: Admission;
  readonly #controls: RoomControls;
  readonly #connections = new Set<Connection<Session>>();
  /** Store writes that failed and are retried on each sweep. */
  #retries: (() => Promise<unknown>)[] = [];
  #reconciledAt: number;
  #closed = false;

  constructor(store: RoomStore, options: HubOptions = {}) {
    this.#store = store;
    this.#options = resolveHubOptions(options);
    const log = this.#options.log;
    this.#registry = new RoomRegistry({
      store,
      log,
      tell: (room, text, about, origin) =>
        this.#delivery.tellRoom(room, text, about, origin),
    });
    this.#delivery = new Delivery({
      store,
      registry: this.#registry,
      queueLimit: this.#options.queueLimit,
      log,
    });
    this.#admission = new Admission({
      store,
      registry: this.#registry,
      delivery: this.#delivery,
      options: this.#options,
      dropped: (session) => this.dropped(session),
      limits: () => this.limits,
      knock: (conn, msg, state) => this.#controls.knock(conn, msg, state),
    });
    this.#controls = new RoomControls({
      store,
      registry: this.#registry,
      delivery: this.#delivery,
      options: this.#options,
      admit: (conn, msg) =>
        this.#pinned(msg.room, () => this.#admission.joinNew(conn, msg, true)),
    });
    this.#delivery.listen(
      () => void this.#reconcile(),
      (roomId, event) => {
        if (!this.#controls.roomEvent(roomId, event)) {
          this.#registry.event(roomId, event);
        }
      },
    );
    this.#reconciledAt = this.#options.now();
  }

  /** This instance's latencies and counts by code. */
  get metrics(): Metrics {
    return this.#options.metrics;
  }

  /** Whether the cross-instance bus delivers (true without one). */
  get busHealthy(): boolean {
    return this.#store.bus?.healthy ?? true;
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

  /** Live counts. */
  snapshot(): HubStats {
    const m = this.metrics;
    return {
      connections: this.#connections.size,
      ...this.#registry.counts,
      joins: m.joins,
      resumes: m.resumes,
      relayed: m.relayed,
      errors: m.errorsTotal,
    };
  }

  /** Whether the hub is shutting down and takes no new sockets. */
  get draining(): boolean {
    return this.#closed;
  }

  /** Store writes waiting for a retry. */
  get pendingWrites(): number {
    return this.#retries.length;
  }

  /**
   * Prepares the store after a start (with one instance, every stored peer
   * becomes away with its grace counted from now).
   */
  async recover(): Promise<number> {
    return await this.#store.recover(
      this.#delivery.instanceId,
      this.#options.now(),
    );
  }

  /** Takes a new socket; the returned connection gets its events. */
  connect(socket: PeerSocket, client: ClientHooks = {}): Connection<Session> {
    const conn = new Connection<Session>(this, socket, {
      ...this.#options,
      client,
    });
    if (this.#closed) {
      conn.close(CLOSE.restart);
      return conn;
    }
    this.#connections.add(conn);
    return conn;
  }

  /**
   * Removes, in one bounded step, peers whose grace ran out (telling their
   * rooms) and expired empty rooms; retries failed writes first, and checks
   * the loaded rooms against the store every `reconcileIntervalMs`.
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
    for (const { peerId, roomId, wasHost } of result.peers) {
      const announce = async () => {
        await this.#registry.expire(
          peerId,
          roomId,
          (to, text) => this.#delivery.enqueue(to, text, 0),
        );
        // Announced once: a failure here must not repeat the expiry.
        if (wasHost) {
          await this.#controls.announce(roomId).catch((error) =>
            o.log.warn("sweep.announce_failed", {
              room: roomId,
              error: `${error}`,
            })
          );
        }
      };
      await announce().catch((error) => {
        o.log.warn("sweep.announce_failed", {
          room: roomId,
          error: `${error}`,
        });
        this.#retry(announce);
      });
      o.log.debug("peer.expired", { peer: peerId });
    }
    if (
      this.#store.bus && o.now() - this.#reconciledAt >= o.reconcileIntervalMs
    ) {
      await this.#reconcile();
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
    this.#controls.close();
    for (const conn of this.#connections) conn.close(CLOSE.restart);
  }

  // ---- ConnectionHost ----

  /** The socket closed; forget it. */
  closed(conn: Connection<Session>): void {
    this.#connections.delete(conn);
    this.#controls.cancel(conn);
  }

  /** Handles a join (new or resume) for `conn`. */
  async join(conn: Connection<Session>, msg: JoinMessage): Promise<void> {
    if (this.#controls.isKnocking(conn)) {
      throw new ProtocolError(
        "already-joined",
        "This socket is knocking; wait for the host or send leave",
        msg.ref,
      );
    }
    await this.#pinned(
      msg.room,
      () =>
        msg.token !== undefined
          ? this.#admission.resume(conn, msg)
          : this.#admission.joinNew(conn, msg),
    );
  }

  /** Relays a signal from `conn`'s session. */
  relay(conn: Connection<Session>, raw: string, msg: SignalMessage): void {
    const from = conn.session;
    if (!from) {
      throw new ProtocolError("not-joined", "Join a room first", msg.ref);
    }
    if (msg.to === from.peerId) {
      throw new ProtocolError("bad-message", "Cannot signal yourself", msg.ref);
    }
    const target = this.#registry.room(from.roomId)?.get(msg.to);
    if (!target) {
      throw new ProtocolError(
        "unknown-peer",
        `No peer "${msg.to.slice(0, 32)}" in this room`,
        msg.ref,
      );
    }
    this.metrics.countRelay();
    const text = relayedSignal(raw, msg, from.peerId);
    if (target.conn) {
      target.conn.send(text);
      return;
    }
    this.#delivery.deliver(target, text, 0, (why) =>
      conn.reportError(
        why === "full"
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

  /** A host's `lock`, `admit`, `deny` or `remove`. */
  control(
    conn: Connection<Session>,
    msg: LockMessage | AnswerMessage | RemoveMessage,
  ): Promise<void> {
    return this.#controls.control(conn, msg);
  }

  /** Fresh ICE servers for `conn`'s session. */
  iceServers(conn: Connection<Session>, ref: Ref | undefined): ServerMessage {
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
   * Handles `leave`: the session ends and the room is told. With `unload`
   * the peer only goes away, as if its socket had dropped that long ago that
   * `unloadGraceMs` of its grace remain: a reload resumes it, a closed tab
   * is swept a few seconds later.
   */
  async leave(conn: Connection<Session>, unload: boolean): Promise<void> {
    const session = conn.session;
    if (!session) {
      // A knocker that gives up.
      if (this.#controls.cancel(conn)) {
        conn.knocking(false);
        return;
      }
      throw new ProtocolError("not-joined", "Join a room first");
    }
    conn.detach();
    if (unload) {
      const o = this.#options;
      const keep = Math.min(o.unloadGraceMs, o.resumeGraceMs);
      this.dropped(session, o.now() - (o.resumeGraceMs - keep));
      return;
    }
    const wasHost = await this.#store.getRoom(session.roomId).then(
      (state) => state.host === session.peerId,
      () => true,
    );
    this.#registry.remove(session.roomId, session.peerId, true);
    this.#registry.unloadIfIdle(session.roomId);
    await this.#storeWrite(() =>
      this.#store.removePeer(session.peerId, this.#options.now())
    );
    // The right passed to the member present longest: everyone hears who.
    if (wasHost) {
      await this.#controls.announce(session.roomId).catch(() => {});
    }
    this.#options.log.debug("peer.left", {
      room: session.roomId,
      peer: session.peerId,
    });
  }

  /**
   * The socket of a joined session dropped without `leave`; the grace is
   * counted from `since`.
   */
  dropped(session: Session, since = this.#options.now()): void {
    session.instanceId = null;
    const instanceId = this.#delivery.instanceId;
    const write = () =>
      // A retry must not mark away a peer that came back meanwhile.
      session.conn
        ? Promise.resolve()
        : this.#store.setAway(session.peerId, since, instanceId);
    void this.#storeWrite(write);
    this.#store.bus?.publish(session.roomId, {
      kind: "away",
      peerId: session.peerId,
    });
    this.#registry.unloadIfIdle(session.roomId);
    this.#options.log.debug("peer.away", {
      room: session.roomId,
      peer: session.peerId,
    });
  }

  // ---- internals ----

  /** Runs a join into `roomId` with the room kept loaded meanwhile. */
  async #pinned(roomId: string, join: () => Promise<void>): Promise<void> {
    this.#registry.pin(roomId);
    try {
      await join();
    } finally {
      this.#registry.unpin(roomId);
    }
  }

  async #reconcile(): Promise<void> {
    this.#reconciledAt = this.#options.now();
    await this.#registry.reconcileAll();
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

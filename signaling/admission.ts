/**
 * Admitting a socket into a room: a new peer (capacity checked by the store)
 * or a resumed session (token checked, queue handed back in order). Both end
 * in `joined` for the socket; a new peer is also told to the room.
 *
 * @module
 */
import {
  CLOSE,
  encode,
  type JoinMessage,
  type Limits,
  ProtocolError,
  type Ref,
  type ServerMessage,
} from "./protocol.ts";
import { newToken, randomId, secretMatches, splitToken } from "./ids.ts";
import type { Connection } from "./connection.ts";
import type { ResolvedHubOptions } from "./hub_options.ts";
import type { RoomRegistry, Session } from "./room_registry.ts";
import type { Delivery } from "./delivery.ts";
import type { PeerRecord, RoomState, RoomStore } from "../storage/mod.ts";

/** What {@linkcode Admission} works with. */
export interface AdmissionDeps {
  store: RoomStore;
  registry: RoomRegistry;
  delivery: Delivery;
  options: ResolvedHubOptions;
  /** A session whose socket closed while it was being admitted. */
  dropped(session: Session): void;
  /** The limits clients are told in `joined`. */
  limits(): Limits;
  /** The room is locked: `conn` knocks instead of joining. */
  knock(
    conn: Connection<Session>,
    msg: JoinMessage,
    state: RoomState,
  ): Promise<void>;
}

/** New joins and resumes. */
export class Admission {
  readonly #deps: AdmissionDeps;

  constructor(deps: AdmissionDeps) {
    this.#deps = deps;
  }

  /**
   * Joins `conn` as a new peer of `msg.room`, or, if the room is locked and
   * the host did not `admit` it, makes it knock.
   */
  async joinNew(
    conn: Connection<Session>,
    msg: JoinMessage,
    admitted = false,
  ): Promise<void> {
    const o = this.#deps.options;
    const instanceId = this.#deps.delivery.instanceId;
    const room = await this.#deps.registry.load(msg.room);
    const peerId = randomId();
    const { token, hash } = newToken(peerId);
    const record: PeerRecord = {
      peerId,
      roomId: msg.room,
      name: msg.name ?? "",
      tokenHash: hash,
      joinedAt: o.now(),
      awaySince: null,
      instanceId,
    };
    const added = await this.#deps.store.addPeer(record, o.maxRoomSize, {
      admitted,
    });
    if (added === "full") {
      throw new ProtocolError(
        "room-full",
        `Cannot join room "${msg.room}": room already has ${o.maxRoomSize} peers`,
        msg.ref,
      );
    }
    if (added === "locked") {
      const state = await this.#deps.store.getRoom(msg.room);
      if (state.locked) {
        await this.#deps.knock(conn, msg, state);
        return;
      }
      // Unlocked in the meantime: join as anyone would.
      return await this.joinNew(conn, msg, admitted);
    }
    const state = await this.#deps.store.getRoom(msg.room);
    const session: Session = {
      peerId,
      roomId: msg.room,
      name: record.name,
      instanceId,
    };
    const others = [...room.values()];
    this.#deps.registry.add(room, session);
    this.#deps.options.metrics.countJoin();
    this.#attach(conn, session, token, false, others, state, msg.ref);
    const joined = encode({ type: "peer-joined", peerId, name: session.name });
    this.#deps.delivery.tellRoom(room, joined, session, true);
    this.#deps.store.bus?.publish(msg.room, {
      kind: "joined",
      peerId,
      name: session.name,
      instanceId,
    });
    o.log.debug("peer.joined", { room: msg.room, peer: peerId });
  }

  /** Resumes the session of `msg.token` on `conn`. */
  async resume(conn: Connection<Session>, msg: JoinMessage): Promise<void> {
    const refuse = () =>
      new ProtocolError(
        "invalid-token",
        "Session cannot be resumed: unknown or expired token",
        msg.ref,
      );
    const parts = splitToken(msg.token ?? "");
    if (!parts) throw refuse();
    const record = await this.#deps.store.getPeer(parts.peerId);
    if (
      !record || !secretMatches(parts.secret, record.tokenHash) ||
      record.roomId !== msg.room
    ) {
      throw refuse();
    }
    const instanceId = this.#deps.delivery.instanceId;
    // Read before the resume below: from then on frames for the peer come
    // here, and nothing may wait between it and the attach.
    const state = await this.#deps.store.getRoom(record.roomId);
    const room = await this.#deps.registry.load(record.roomId);
    let session = room.get(record.peerId);
    if (!session) {
      session = this.#deps.registry.sessionOf(record, null);
      this.#deps.registry.add(room, session);
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
      queued = await this.#deps.store.resume(record.peerId, instanceId);
    } finally {
      if (session.pending === pending) session.pending = undefined;
    }
    if (!queued) {
      // Swept while we waited.
      this.#deps.registry.remove(record.roomId, record.peerId, false);
      throw refuse();
    }
    session.instanceId = instanceId;
    const others = [...room.values()].filter((s) => s !== session);
    this.#deps.options.metrics.countResume();
    this.#attach(conn, session, msg.token ?? "", true, others, state, msg.ref);
    for (const text of queued) conn.send(text);
    for (const text of pending) conn.send(text);
    this.#deps.store.bus?.publish(record.roomId, {
      kind: "present",
      peerId: record.peerId,
      instanceId,
    });
    this.#deps.options.log.debug("peer.resumed", {
      room: session.roomId,
      peer: session.peerId,
      queued: queued.length + pending.length,
    });
  }

  #attach(
    conn: Connection<Session>,
    session: Session,
    token: string,
    resumed: boolean,
    others: Session[],
    state: RoomState,
    ref: Ref | undefined,
  ): void {
    session.conn = conn;
    conn.attach(session);
    const ice = this.#deps.options.iceServers(session.peerId);
    const joined: ServerMessage = {
      type: "joined",
      room: session.roomId,
      peerId: session.peerId,
      token,
      resumed,
      peers: others.map((s) => ({ peerId: s.peerId, name: s.name })),
      iceServers: ice.iceServers,
      limits: this.#deps.limits(),
      host: state.host,
      locked: state.locked,
    };
    if (ice.ttlMs !== undefined) joined.iceServersTtlMs = ice.ttlMs;
    if (ref !== undefined) joined.ref = ref;
    conn.send(encode(joined));
    // The socket may have closed while the store was busy: then the session
    // is away from the start.
    if (conn.closed) {
      conn.detach();
      this.#deps.dropped(session);
    }
  }
}

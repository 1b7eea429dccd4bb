/**
 * Who is in which room, as this instance sees it: the rooms that have a
 * member connected (or resuming) here, loaded from the store, kept current by
 * this instance's own changes and by other instances' room events, and
 * checked against the store when events may have been lost.
 *
 * Invariants:
 * - A room is loaded from the store (and followed on the bus) before any
 *   change to it, and unloaded when no member is connected, resuming or
 *   pinned (a join in flight) here.
 * - Every membership change bumps the room's version, so a reconciliation
 *   whose store read raced with a change is dropped instead of undoing it.
 * - Events that arrive while a room loads are applied once it is loaded.
 *
 * @module
 */
import { CLOSE, encode } from "./protocol.ts";
import type { Connection } from "./connection.ts";
import type { Logger } from "./log.ts";
import type { PeerRecord, RoomEvent, RoomStore } from "../storage/mod.ts";

/** A member of a loaded room. */
export interface Session {
  readonly peerId: string;
  readonly roomId: string;
  readonly name: string;
  /** Its socket, when connected to this instance. */
  conn?: Connection<Session>;
  /** The instance holding its socket, when connected to another one. */
  instanceId: string | null;
  /** While it resumes here: frames that arrived for it meanwhile. */
  pending?: string[];
}

/** A loaded room: its members by peer ID. */
export type Room = Map<string, Session>;

/**
 * Tells a room's members something. `origin` is true on the instance that
 * made the change (it also fills the queues of away members).
 */
export type TellRoom = (
  room: Room,
  text: string,
  about: Session | undefined,
  origin: boolean,
) => void;

/** What {@linkcode RoomRegistry} works with. */
export interface RoomRegistryDeps {
  store: RoomStore;
  /** How members are told of a change (cross-instance delivery). */
  tell: TellRoom;
  log: Logger;
}

/** The rooms loaded on this instance and their members. */
export class RoomRegistry {
  readonly #store: RoomStore;
  readonly #tell: TellRoom;
  readonly #log: Logger;
  readonly #sessions = new Map<string, Session>();
  readonly #rooms = new Map<string, Room>();
  readonly #loading = new Map<string, Promise<Room>>();
  /** Events for rooms still loading, applied once they are loaded. */
  readonly #early = new Map<string, RoomEvent[]>();
  /** Joins and resumes in flight per room: a pinned room stays loaded. */
  readonly #pins = new Map<string, number>();
  /** Per loaded room, bumped on every membership change. */
  readonly #versions = new Map<string, number>();

  constructor(deps: RoomRegistryDeps) {
    this.#store = deps.store;
    this.#tell = deps.tell;
    this.#log = deps.log;
  }

  /** How many rooms are loaded and how many members they hold. */
  get counts(): { rooms: number; sessions: number } {
    return { rooms: this.#rooms.size, sessions: this.#sessions.size };
  }

  /** A loaded room, if it is. */
  room(roomId: string): Room | undefined {
    return this.#rooms.get(roomId);
  }

  /** A member of a loaded room, by peer ID. */
  session(peerId: string): Session | undefined {
    return this.#sessions.get(peerId);
  }

  /** Keeps `roomId` loaded until the matching {@linkcode unpin}. */
  pin(roomId: string): void {
    this.#pins.set(roomId, (this.#pins.get(roomId) ?? 0) + 1);
  }

  /** Ends one {@linkcode pin}; the room unloads if nothing holds it. */
  unpin(roomId: string): void {
    const pins = (this.#pins.get(roomId) ?? 1) - 1;
    if (pins > 0) this.#pins.set(roomId, pins);
    else this.#pins.delete(roomId);
    this.unloadIfIdle(roomId);
  }

  /** The room's members, loaded from the store (and followed) if needed. */
  load(roomId: string): Promise<Room> {
    const room = this.#rooms.get(roomId);
    if (room) return Promise.resolve(room);
    let loading = this.#loading.get(roomId);
    if (!loading) {
      this.#early.set(roomId, []);
      loading = (async () => {
        // Follow before reading, so no event falls between the two.
        await this.#store.bus?.follow(roomId);
        const records = await this.#store.listPeers(roomId);
        const room: Room = new Map();
        for (const record of records) {
          room.set(record.peerId, this.sessionOf(record, presentOn(record)));
        }
        this.#rooms.set(roomId, room);
        for (const event of this.#early.get(roomId) ?? []) {
          this.#apply(roomId, room, event);
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

  /** The session of a stored peer, made if this instance has none yet. */
  sessionOf(record: PeerRecord, instanceId: string | null): Session {
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

  /** Adds a member to its loaded room. */
  add(room: Room, session: Session): void {
    room.set(session.peerId, session);
    this.#sessions.set(session.peerId, session);
    this.#touch(session.roomId);
  }

  /**
   * Removes a member from a loaded room and tells the room; the instance
   * that made the change (`origin`) also tells the other instances.
   */
  remove(roomId: string, peerId: string, origin: boolean): void {
    const room = this.#rooms.get(roomId);
    const session = room?.get(peerId);
    if (!room || !session) return;
    room.delete(peerId);
    this.#sessions.delete(peerId);
    this.#touch(roomId);
    this.#tell(room, encode({ type: "peer-left", peerId }), session, origin);
    if (origin) this.#store.bus?.publish(roomId, { kind: "left", peerId });
  }

  /** Unloads a room once no member is connected or resuming here. */
  unloadIfIdle(roomId: string): void {
    const room = this.#rooms.get(roomId);
    if (!room || this.#loading.has(roomId) || this.#pins.has(roomId)) return;
    for (const session of room.values()) {
      if (session.conn || session.pending) return;
    }
    this.#rooms.delete(roomId);
    this.#versions.delete(roomId);
    for (const peerId of room.keys()) this.#sessions.delete(peerId);
    this.#store.bus?.unfollow(roomId);
  }

  /** Another instance changed a room this instance follows. */
  event(roomId: string, event: RoomEvent): void {
    const early = this.#early.get(roomId);
    if (early) {
      early.push(event);
      return;
    }
    const room = this.#rooms.get(roomId);
    if (!room) return;
    this.#touch(roomId);
    this.#apply(roomId, room, event);
  }

  /**
   * Checks every loaded room against the store: members the store no
   * longer has leave (their `left` was lost), members it has that this
   * instance missed join. A room that fails is logged and left as it is.
   */
  async reconcileAll(): Promise<void> {
    for (const roomId of [...this.#rooms.keys()]) {
      try {
        await this.#reconcile(roomId);
      } catch (error) {
        this.#log.warn("reconcile.failed", {
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
    const stored = new Set(records.map((r) => r.peerId));
    for (const [peerId, session] of room) {
      if (session.conn || session.pending || stored.has(peerId)) continue;
      this.#log.info("reconcile.left", { room: roomId, peer: peerId });
      this.remove(roomId, peerId, false);
    }
    for (const record of records) {
      const session = room.get(record.peerId);
      if (session) {
        if (!session.conn && !session.pending) {
          session.instanceId = presentOn(record);
        }
        continue;
      }
      this.#log.info("reconcile.joined", { room: roomId, peer: record.peerId });
      const added = this.sessionOf(record, presentOn(record));
      room.set(added.peerId, added);
      this.#tell(
        room,
        encode({ type: "peer-joined", peerId: added.peerId, name: added.name }),
        added,
        false,
      );
    }
    this.unloadIfIdle(roomId);
  }

  /**
   * Announces a peer the sweep removed from the store. A room loaded here
   * knows it; for one that is not, the other instances hear it on the bus
   * and the away members find it in their queues (`queue` sends it). Throws
   * if the store cannot list the room; calling again finishes the job.
   */
  async expire(
    peerId: string,
    roomId: string,
    queue: (peerId: string, text: string) => void,
  ): Promise<void> {
    const session = this.#rooms.get(roomId)?.get(peerId);
    if (session) {
      if (session.conn) {
        // Gone from the store while connected here (its row was swept in
        // the moment it resumed): end the socket so the client joins again.
        const conn = session.conn;
        conn.detach();
        conn.close(CLOSE.restart);
      }
      this.remove(roomId, peerId, true);
      this.unloadIfIdle(roomId);
      return;
    }
    this.#store.bus?.publish(roomId, { kind: "left", peerId });
    const text = encode({ type: "peer-left", peerId });
    for (const record of await this.#store.listPeers(roomId)) {
      if (record.awaySince !== null) queue(record.peerId, text);
    }
  }

  #touch(roomId: string): void {
    this.#versions.set(roomId, (this.#versions.get(roomId) ?? 0) + 1);
  }

  #apply(roomId: string, room: Room, event: RoomEvent): void {
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
        this.#tell(
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
        this.unloadIfIdle(roomId);
        return;
      }
      case "away": {
        const session = room.get(event.peerId);
        if (session && !session.conn) session.instanceId = null;
        return;
      }
      case "left":
        this.remove(roomId, event.peerId, false);
        this.unloadIfIdle(roomId);
        return;
    }
  }
}

/** The instance a stored peer is present on, or null while it is away. */
function presentOn(record: PeerRecord): string | null {
  return record.awaySince === null ? record.instanceId ?? null : null;
}

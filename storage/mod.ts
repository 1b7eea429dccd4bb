/**
 * The storage seam: what the signaling hub needs to keep rooms, peers and
 * sessions across restarts. SQLite implements it for one machine; a Redis
 * implementation shares it between instances. The hub never sees SQL.
 *
 * Methods are async even where SQLite answers synchronously, so a networked
 * store fits the same interface.
 *
 * @module
 */

/** A peer and its session as stored. */
export interface PeerRecord {
  peerId: string;
  roomId: string;
  name: string;
  /** SHA-256 of the token's secret, hex. */
  tokenHash: string;
  joinedAt: number;
  /** When its socket dropped (or the server restarted); null while present. */
  awaySince: number | null;
  /** The instance holding its socket while present (shared stores only). */
  instanceId?: string | null;
}

/** Where {@linkcode RoomStore.enqueue} put a message. */
export type EnqueueResult =
  | { status: "queued" }
  | { status: "full" }
  | { status: "gone" }
  | { status: "present"; instanceId: string };

/**
 * The outcome of {@linkcode RoomStore.addPeer}: added, refused because the
 * room is full, or refused because it is locked (the newcomer must knock).
 */
export type AddPeerResult = "ok" | "full" | "locked";

/** Options of {@linkcode RoomStore.addPeer}. */
export interface AddPeerOptions {
  /** The host let this peer in: a lock does not refuse it. */
  admitted?: boolean;
}

/**
 * A room's controls. The host is a peer ID (null once the room is empty);
 * only the host may lock the room, answer knocks and remove members.
 */
export interface RoomState {
  host: string | null;
  locked: boolean;
}

/** The limits {@linkcode RoomStore.openKnock} applies to one room. */
export interface KnockLimits {
  /** Knocks waiting at once. */
  maxWaiting: number;
  /** Knocks per minute (a bucket of this many, refilled over a minute). */
  perMinute: number;
  /** How long a knock may wait; one not closed by then stops counting. */
  timeoutMs: number;
}

/** The outcome of {@linkcode RoomStore.openKnock}. */
export type OpenKnockResult = "ok" | "busy" | "rate";

/** What one sweep step removed. */
export interface SweepResult {
  /**
   * Peers whose grace ran out, removed with their sessions; `wasHost` when
   * the room's host right passed on (or ended) with it.
   */
  peers: (Pick<PeerRecord, "peerId" | "roomId"> & { wasHost?: boolean })[];
  /** Empty rooms whose TTL ran out. */
  rooms: string[];
}

/** Options of a sweep step. */
export interface SweepOptions {
  /** How long an away peer is kept. */
  graceMs: number;
  /** How long an empty room is kept. */
  roomTtlMs: number;
  /** Most peers and most rooms removed in this step. */
  batch: number;
}

/** Storage for rooms, peers and sessions. */
export interface RoomStore {
  /**
   * Adds a peer to its room, creating the room if needed, unless the room
   * already holds `maxRoomSize` peers or is locked (and the peer was not
   * `admitted`). The first peer of a room without a host becomes its host.
   * Atomic: concurrent calls never admit more than `maxRoomSize`, nor pass
   * a lock set before them.
   */
  addPeer(
    peer: PeerRecord,
    maxRoomSize: number,
    options?: AddPeerOptions,
  ): Promise<AddPeerResult>;
  /** The room's host and lock (no host and unlocked for an unknown room). */
  getRoom(roomId: string): Promise<RoomState>;
  /**
   * Locks or unlocks a room, if `hostId` is still its host; returns the
   * state after the call.
   */
  setLocked(
    roomId: string,
    hostId: string,
    locked: boolean,
  ): Promise<RoomState>;
  /**
   * Counts a knock on a room, unless `maxWaiting` knocks already wait there
   * ("busy") or the room had `perMinute` knocks in the last minute ("rate").
   * Shared by every instance on the store; atomic.
   */
  openKnock(
    roomId: string,
    knockId: string,
    now: number,
    limits: KnockLimits,
  ): Promise<OpenKnockResult>;
  /** The knock ended: it no longer counts as waiting. */
  closeKnock(roomId: string, knockId: string): Promise<void>;
  /** The peer with this ID, if it is stored. */
  getPeer(peerId: string): Promise<PeerRecord | undefined>;
  /** Every peer of a room, oldest first. */
  listPeers(roomId: string): Promise<PeerRecord[]>;
  /**
   * Marks a peer away since `since`, unless it is present on another
   * instance than `instanceId` (it resumed elsewhere meanwhile).
   */
  setAway(peerId: string, since: number, instanceId: string): Promise<void>;
  /**
   * Marks a peer present on `instanceId` and hands back, in order, the
   * messages queued for it while it was away, atomically: a message is either
   * in the returned list or will find the peer present. Undefined if the peer
   * is gone.
   */
  resume(peerId: string, instanceId: string): Promise<string[] | undefined>;
  /**
   * Queues a message for an away peer, at most `limit` deep, or says where
   * the peer is present now. `unreachable` names an instance known to be
   * gone: a peer still marked present there is marked away first.
   */
  enqueue(
    peerId: string,
    text: string,
    limit: number,
    unreachable?: string,
  ): Promise<EnqueueResult>;
  /**
   * Removes a peer and its session; an emptied room starts its TTL at `now`,
   * with no host and unlocked. A removed host passes the right to the
   * member present longest (away members only if none is present); the
   * sweep does the same. Returns whether the peer was there.
   */
  removePeer(peerId: string, now: number): Promise<boolean>;
  /**
   * Prepares the store for a starting instance: with one instance, every
   * peer becomes away since `now`; a shared store instead relies on dead
   * instances being noticed by {@linkcode RoomStore.sweep}.
   */
  recover(instanceId: string, now: number): Promise<number>;
  /** Removes, in one bounded step, expired away peers and empty rooms. */
  sweep(now: number, options: SweepOptions): Promise<SweepResult>;
  /** How many rooms and peers are stored. */
  counts(): Promise<{ rooms: number; peers: number }>;
  /** Throws if the store cannot take a write right now. */
  check(): Promise<void>;
  /** The cross-instance bus, for stores shared between instances. */
  readonly bus?: Bus;
  /** Releases the store; safe to call twice. */
  close(): void;
}

/** Storage is unreachable, locked or full: the client should retry later. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** A change to a room's membership that other instances must hear about. */
export type RoomEvent =
  | { kind: "joined"; peerId: string; name: string; instanceId: string }
  | { kind: "present"; peerId: string; instanceId: string }
  | { kind: "away"; peerId: string }
  | { kind: "left"; peerId: string }
  /** The host removed this member: its socket closes, its session ends. */
  | { kind: "removed"; peerId: string }
  /** The room's host or lock changed. */
  | { kind: "state"; host: string | null; locked: boolean }
  /** The host answered a knock (held by whichever instance has it). */
  | { kind: "answer"; knockId: string; admit: boolean };

/** What a {@linkcode Bus} hands to the hub. */
export interface BusHandlers {
  /** A frame for a peer whose socket this instance holds (or held). */
  peerMessage(peerId: string, text: string, hops: number): void;
  /** Another instance changed a room this instance follows. */
  roomEvent(roomId: string, event: RoomEvent): void;
  /** A frame sent with `sendToPeer` found no instance listening. */
  undeliverable(
    peerId: string,
    text: string,
    hops: number,
    instanceId: string,
  ): void;
  /**
   * Delivery resumed after an outage (or a silent subscription was renewed):
   * events may have been lost meanwhile.
   */
  resync(): void;
}

/**
 * Delivery between instances that share a store. Signals for one peer go to
 * the instance holding its socket; room events go to every instance that
 * follows the room (has members there).
 */
export interface Bus {
  /** This instance's ID. */
  readonly instanceId: string;
  /** Whether messages are flowing (connected, and the probe came back). */
  readonly healthy: boolean;
  /** Sets who receives what arrives. */
  listen(handlers: BusHandlers): void;
  /** Sends a frame to a peer on another instance. */
  sendToPeer(
    instanceId: string,
    peerId: string,
    text: string,
    hops: number,
  ): void;
  /** Tells every instance following `roomId`. */
  publish(roomId: string, event: RoomEvent): void;
  /** Starts receiving a room's events; resolves once subscribed. */
  follow(roomId: string): Promise<void>;
  /** Stops receiving a room's events. */
  unfollow(roomId: string): void;
}

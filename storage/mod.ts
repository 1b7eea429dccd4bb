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
}

/** The outcome of {@linkcode RoomStore.addPeer}. */
export type AddPeerResult = "ok" | "full";

/** What one sweep step removed. */
export interface SweepResult {
  /** Peers whose grace ran out, removed with their sessions. */
  peers: Pick<PeerRecord, "peerId" | "roomId">[];
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
   * already holds `maxRoomSize` peers. Atomic: concurrent calls never admit
   * more than `maxRoomSize`.
   */
  addPeer(peer: PeerRecord, maxRoomSize: number): Promise<AddPeerResult>;
  /** The peer with this ID, if it is stored. */
  getPeer(peerId: string): Promise<PeerRecord | undefined>;
  /** Every peer of a room, oldest first. */
  listPeers(roomId: string): Promise<PeerRecord[]>;
  /** Marks a peer away since `since`, or present with `null`. */
  setAway(peerId: string, since: number | null): Promise<void>;
  /**
   * Removes a peer and its session; an emptied room starts its TTL at `now`.
   * Returns whether the peer was there.
   */
  removePeer(peerId: string, now: number): Promise<boolean>;
  /** Marks every present peer away since `now` (after a restart). */
  markAllAway(now: number): Promise<number>;
  /** Removes, in one bounded step, expired away peers and empty rooms. */
  sweep(now: number, options: SweepOptions): Promise<SweepResult>;
  /** How many rooms and peers are stored. */
  counts(): Promise<{ rooms: number; peers: number }>;
  /** Throws if the store cannot take a write right now. */
  check(): Promise<void>;
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

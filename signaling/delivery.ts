/**
 * Getting a frame to a room member wherever it is: its socket here, the
 * instance that holds it (over the bus), or its queue in the store while it
 * is away. Also what arrives from the bus for this instance.
 *
 * Relaying to a member connected here touches only memory; a member on
 * another instance costs one publish; only an away member costs a store
 * call. A frame for a member that moved is passed on at most `MAX_HOPS`
 * times, so it cannot circle between instances forever.
 *
 * @module
 */
import type { Logger } from "./log.ts";
import type { Room, RoomRegistry, Session } from "./room_registry.ts";
import type { Bus, RoomEvent, RoomStore } from "../storage/mod.ts";

/**
 * How many times a frame for a peer may be passed on between instances
 * while the peer moves.
 */
const MAX_HOPS = 3;

/** Why a frame could not be queued for an away member. */
export type Undelivered = "full" | "gone";

/** What {@linkcode Delivery} works with. */
export interface DeliveryDeps {
  store: RoomStore;
  registry: RoomRegistry;
  queueLimit: number;
  log: Logger;
}

/** Frames to members, across instances. */
export class Delivery {
  readonly #store: RoomStore;
  readonly #bus?: Bus;
  readonly #instanceId: string;
  readonly #registry: RoomRegistry;
  readonly #queueLimit: number;
  readonly #log: Logger;

  constructor(deps: DeliveryDeps) {
    this.#store = deps.store;
    this.#bus = deps.store.bus;
    this.#instanceId = deps.store.bus?.instanceId ?? "local";
    this.#registry = deps.registry;
    this.#queueLimit = deps.queueLimit;
    this.#log = deps.log;
  }

  /** This instance's ID on the bus ("local" without one). */
  get instanceId(): string {
    return this.#instanceId;
  }

  /**
   * Starts taking what the bus brings: frames for members here, room
   * events, and the word that events may have been lost (`resync`).
   */
  listen(
    resync: () => void,
    roomEvent: (roomId: string, event: RoomEvent) => void,
  ): void {
    this.#bus?.listen({
      peerMessage: (peerId, text, hops) => this.#fromBus(peerId, text, hops),
      roomEvent,
      undeliverable: (peerId, text, hops, instanceId) =>
        this.enqueue(peerId, text, hops, undefined, instanceId),
      resync,
    });
  }

  /**
   * Delivers a frame to a member: its socket, the instance holding it, or
   * its queue. `onFail` runs if the queue is full or the store no longer
   * has the member.
   */
  deliver(
    session: Session,
    text: string,
    hops: number,
    onFail?: (why: Undelivered) => void,
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
      this.enqueue(session.peerId, text, hops, onFail);
    }
  }

  /**
   * Queues a frame for an away member, or follows it to where the store
   * says it is present. `unreachable` names an instance known to be gone.
   */
  enqueue(
    peerId: string,
    text: string,
    hops: number,
    onFail?: (why: Undelivered) => void,
    unreachable?: string,
  ): void {
    this.#store.enqueue(peerId, text, this.#queueLimit, unreachable).then(
      (result) => {
        const here = this.#registry.session(peerId);
        if (result.status === "full") {
          onFail?.("full");
        } else if (result.status === "gone") {
          onFail?.("gone");
          // The store removed it and its `left` never reached us: a ghost.
          if (here && !here.conn && !here.pending) {
            this.#registry.remove(here.roomId, peerId, false);
            this.#registry.unloadIfIdle(here.roomId);
          }
        } else if (result.status === "present") {
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
        this.#log.warn("queue.failed", {
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
  tellRoom(
    room: Room,
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
        this.enqueue(member.peerId, text, 0);
      }
    }
  }

  /** A frame another instance sent for a peer it believes is here. */
  #fromBus(peerId: string, text: string, hops: number): void {
    const session = this.#registry.session(peerId);
    if (session?.conn) session.conn.send(text);
    else if (session?.pending) session.pending.push(text);
    // It moved or went away: the store knows where it belongs now.
    else this.enqueue(peerId, text, hops);
  }
}

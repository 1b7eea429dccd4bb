/**
 * What a room's host controls: the lock, the knocks of newcomers on a
 * locked room, and removing a member. The host right and the lock are room
 * state in the store (so they survive restarts and are the same on every
 * instance); a knock lives on the instance holding the knocker's socket and
 * counts against no room until the host admits it.
 *
 * Invariants:
 * - Only the store's current host may lock, answer or remove; the check
 *   reads the store, so a host that changed on another instance is seen.
 * - A knock ends exactly once (admitted, denied, timed out, or its socket
 *   gone), and the host is told `knock-ended` then.
 * - A knock keeps its room loaded here (pinned), so this instance hears the
 *   host's answer and the room's changes over the bus.
 * - The room's knock limits (waiting at once, per minute) are counted in the
 *   store, so they hold across instances; the per-address one is counted
 *   where the socket is.
 *
 * @module
 */
import {
  type AnswerMessage,
  CLOSE,
  encode,
  type JoinMessage,
  type LockMessage,
  ProtocolError,
  type RemoveMessage,
} from "./protocol.ts";
import { randomId } from "./ids.ts";
import type { Connection } from "./connection.ts";
import type { ResolvedHubOptions } from "./hub_options.ts";
import type { RoomRegistry, Session } from "./room_registry.ts";
import type { Delivery } from "./delivery.ts";
import type { RoomEvent, RoomState, RoomStore } from "../storage/mod.ts";

/** What {@linkcode RoomControls} works with. */
export interface RoomControlsDeps {
  store: RoomStore;
  registry: RoomRegistry;
  delivery: Delivery;
  options: ResolvedHubOptions;
  /** Joins `conn` to `msg.room` as a new peer the host let in. */
  admit(conn: Connection<Session>, msg: JoinMessage): Promise<void>;
}

interface Knock {
  id: string;
  roomId: string;
  name: string;
  conn: Connection<Session>;
  msg: JoinMessage;
  /** The host it was shown to. */
  host: string | null;
  timer: ReturnType<typeof setTimeout>;
}

type KnockEnd = "admit" | "deny" | "timeout" | "gone";

/** Host, lock, knocks and removal for the rooms of one instance. */
export class RoomControls {
  readonly #deps: RoomControlsDeps;
  readonly #knocks = new Map<string, Knock>();
  readonly #byConn = new Map<Connection<Session>, Knock>();

  constructor(deps: RoomControlsDeps) {
    this.#deps = deps;
  }

  /** Knocks waiting on this instance. */
  get knocks(): number {
    return this.#knocks.size;
  }

  /** Whether `conn` is knocking. */
  isKnocking(conn: Connection<Session>): boolean {
    return this.#byConn.has(conn);
  }

  /**
   * `conn` asked to join a locked room: checks the knock limits, tells the
   * knocker `knocking` and the host `knock`, and waits for an answer.
   */
  async knock(
    conn: Connection<Session>,
    msg: JoinMessage,
    state: RoomState,
  ): Promise<void> {
    const o = this.#deps.options;
    const roomId = msg.room;
    if (!conn.allowKnock()) {
      throw new ProtocolError(
        "rate-limited",
        "Too many knocks from your address; wait a minute",
        msg.ref,
      );
    }
    const id = randomId();
    const opened = await this.#deps.store.openKnock(roomId, id, o.now(), {
      maxWaiting: o.maxKnocks,
      perMinute: o.roomKnockRate,
      timeoutMs: o.knockTimeoutMs,
    });
    if (opened === "busy") {
      throw new ProtocolError(
        "rate-limited",
        "Too many people are waiting to join this room; try again later",
        msg.ref,
      );
    }
    if (opened === "rate") {
      throw new ProtocolError(
        "rate-limited",
        "This room has had too many knocks; try again in a minute",
        msg.ref,
      );
    }
    if (conn.closed) {
      // Gone while the store answered.
      this.#closeKnock(roomId, id);
      return;
    }
    const knock: Knock = {
      id,
      roomId,
      name: msg.name ?? "",
      conn,
      msg,
      host: state.host,
      timer: setTimeout(() => this.#end(knock, "timeout"), o.knockTimeoutMs),
    };
    this.#knocks.set(knock.id, knock);
    this.#byConn.set(conn, knock);
    this.#deps.registry.pin(roomId);
    conn.knocking(true);
    conn.send(encode({
      type: "knocking",
      knockId: knock.id,
      ...(msg.ref === undefined ? {} : { ref: msg.ref }),
    }));
    this.#showToHost(knock);
    o.log.debug("knock.started", { room: roomId, knock: knock.id });
  }

  /** The knocker's socket closed or it sent `leave`: the knock ends. */
  cancel(conn: Connection<Session>): boolean {
    const knock = this.#byConn.get(conn);
    if (!knock) return false;
    this.#end(knock, "gone");
    return true;
  }

  /** Handles `lock`, `admit`, `deny` and `remove` from `conn`'s session. */
  async control(
    conn: Connection<Session>,
    msg: LockMessage | AnswerMessage | RemoveMessage,
  ): Promise<void> {
    const session = conn.session;
    if (!session) {
      throw new ProtocolError("not-joined", "Join a room first", msg.ref);
    }
    const store = this.#deps.store;
    const roomId = session.roomId;
    const state = await store.getRoom(roomId);
    if (state.host !== session.peerId) {
      throw new ProtocolError(
        "not-host",
        "Only the room's host can lock it, answer knocks or remove people",
        msg.ref,
      );
    }
    switch (msg.type) {
      case "lock": {
        const next = await store.setLocked(roomId, session.peerId, msg.locked);
        this.#stateChanged(roomId, next, true);
        return;
      }
      case "admit":
      case "deny": {
        const admit = msg.type === "admit";
        const knock = this.#knocks.get(msg.knockId);
        if (knock) {
          if (knock.roomId === roomId) this.#end(knock, msg.type);
          return;
        }
        // Held by another instance (or already over): whoever holds it acts.
        store.bus?.publish(roomId, {
          kind: "answer",
          knockId: msg.knockId,
          admit,
        });
        return;
      }
      case "remove":
        await this.#remove(session, msg);
        return;
    }
  }

  /**
   * Reads the room's state and tells its members here and on the other
   * instances (after a member left for good: the host may have changed).
   */
  async announce(roomId: string): Promise<void> {
    const state = await this.#deps.store.getRoom(roomId);
    this.#stateChanged(roomId, state, true);
  }

  /** A room event that is about controls; false for membership events. */
  roomEvent(roomId: string, event: RoomEvent): boolean {
    switch (event.kind) {
      case "state":
        this.#stateChanged(roomId, event, false);
        return true;
      case "answer": {
        const knock = this.#knocks.get(event.knockId);
        if (knock?.roomId === roomId) {
          this.#end(knock, event.admit ? "admit" : "deny");
        }
        return true;
      }
      case "removed": {
        const session = this.#deps.registry.room(roomId)?.get(event.peerId);
        if (session?.conn) closeRemoved(session);
        return true;
      }
      default:
        return false;
    }
  }

  /** Ends every knock (the server stops). */
  close(): void {
    for (const knock of [...this.#knocks.values()]) this.#end(knock, "gone");
  }

  async #remove(host: Session, msg: RemoveMessage): Promise<void> {
    const { store, registry } = this.#deps;
    const roomId = host.roomId;
    if (msg.peerId === host.peerId) {
      throw new ProtocolError(
        "bad-message",
        "To leave the room, send leave",
        msg.ref,
      );
    }
    const record = await store.getPeer(msg.peerId);
    if (
      record?.roomId !== roomId ||
      !await store.removePeer(msg.peerId, this.#deps.options.now())
    ) {
      throw new ProtocolError(
        "unknown-peer",
        `No peer "${msg.peerId.slice(0, 32)}" in this room`,
        msg.ref,
      );
    }
    // Its session is gone from the store: the token resumes nothing now.
    const target = registry.room(roomId)?.get(msg.peerId);
    if (target?.conn) closeRemoved(target);
    store.bus?.publish(roomId, { kind: "removed", peerId: msg.peerId });
    if (target) {
      registry.remove(roomId, msg.peerId, true);
      registry.unloadIfIdle(roomId);
    } else {
      // Not loaded here (cannot happen for the host's own room, which is
      // loaded while the host is connected): tell the others directly.
      store.bus?.publish(roomId, { kind: "left", peerId: msg.peerId });
    }
    this.#deps.options.log.info("peer.removed", {
      room: roomId,
      peer: msg.peerId,
      by: host.peerId,
    });
  }

  /**
   * The room's state is `state` now: its members here hear it, and with
   * `origin` so do the other instances. Knocks waiting here are shown to a
   * new host, and let in if the room was unlocked.
   */
  #stateChanged(roomId: string, state: RoomState, origin: boolean): void {
    const { registry, delivery, store } = this.#deps;
    const room = registry.room(roomId);
    if (room) {
      const text = encode({
        type: "room",
        host: state.host,
        locked: state.locked,
      });
      delivery.tellRoom(room, text, undefined, false);
    }
    if (origin) {
      store.bus?.publish(roomId, {
        kind: "state",
        host: state.host,
        locked: state.locked,
      });
    }
    for (const knock of [...this.#knocks.values()]) {
      if (knock.roomId !== roomId) continue;
      if (!state.locked || state.host === null) {
        this.#end(knock, "admit");
      } else if (knock.host !== state.host) {
        knock.host = state.host;
        this.#showToHost(knock);
      }
    }
  }

  /** Stops counting a knock in the store (it expires there anyway). */
  #closeKnock(roomId: string, knockId: string): void {
    this.#deps.store.closeKnock(roomId, knockId).catch((error) =>
      this.#deps.options.log.warn("knock.close_failed", {
        room: roomId,
        error: error instanceof Error ? error.message : String(error),
      })
    );
  }

  #showToHost(knock: Knock): void {
    this.#toHost(
      knock.roomId,
      knock.host,
      encode({ type: "knock", knockId: knock.id, name: knock.name }),
    );
  }

  #toHost(roomId: string, host: string | null, text: string): void {
    if (host === null) return;
    const { registry, delivery } = this.#deps;
    const session = registry.room(roomId)?.get(host);
    if (session) delivery.deliver(session, text, 0);
    else delivery.enqueue(host, text, 0);
  }

  #end(knock: Knock, end: KnockEnd): void {
    if (this.#knocks.get(knock.id) !== knock) return;
    this.#knocks.delete(knock.id);
    this.#byConn.delete(knock.conn);
    clearTimeout(knock.timer);
    // Before anyone hears of the end: a knock after that finds room.
    this.#closeKnock(knock.roomId, knock.id);
    const { registry, options } = this.#deps;
    const conn = knock.conn;
    const ref = knock.msg.ref;
    switch (end) {
      case "admit":
        conn.run(async () => {
          conn.knocking(false);
          await this.#deps.admit(conn, knock.msg);
        }, ref);
        break;
      case "deny":
        conn.knocking(false);
        conn.reportError(
          new ProtocolError("knock-denied", "The host did not let you in", ref),
          ref,
        );
        break;
      case "timeout":
        conn.knocking(false);
        conn.reportError(
          new ProtocolError(
            "knock-timeout",
            `Nobody let you in within ${
              formatMs(options.knockTimeoutMs)
            }; try again later`,
            ref,
          ),
          ref,
        );
        break;
      case "gone":
        break;
    }
    this.#toHost(
      knock.roomId,
      knock.host,
      encode({ type: "knock-ended", knockId: knock.id }),
    );
    registry.unpin(knock.roomId);
    options.log.debug("knock.ended", {
      room: knock.roomId,
      knock: knock.id,
      end,
    });
  }
}

/** Closes a removed member's socket; its session is over, not away. */
function closeRemoved(session: Session): void {
  const conn = session.conn;
  if (!conn) return;
  conn.detach();
  conn.close(CLOSE.removed);
}

/** `60 s`, or `400 ms` below a second. */
function formatMs(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

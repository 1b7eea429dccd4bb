/**
 * When a {@linkcode PeerLink} restarts ICE: one restart per outage, from one
 * side. Measured in the impairment lab (`docs/call-quality.md`), both sides
 * used to restart on `disconnected` (3.0 s and 4.5 s later), two restarts
 * per outage where one is enough: ICE restart renegotiates both sides'
 * credentials whoever starts it.
 *
 * The leader (the impolite side of perfect negotiation, whose offer wins a
 * collision anyway) restarts {@linkcode DISCONNECTED_RESTART_MS} after
 * `disconnected`, at once after `failed`. The follower waits
 * {@linkcode FOLLOWER_GRACE_MS} longer, so it only restarts when the leader
 * could not (its tab frozen, its signaling down). After any restart, ours or
 * the peer's, no other comes for {@linkcode RESTART_BACKOFF_MS}: a restart
 * made during an outage completes when the network returns, and a second
 * one would only delay that. Pure, with an injected clock.
 *
 * @module
 */

/** How long `disconnected` may last before the leader restarts ICE. */
export const DISCONNECTED_RESTART_MS = 3_000;
/** How much longer the follower waits for the leader's restart. */
export const FOLLOWER_GRACE_MS = 3_000;
/** The least time between two ICE restarts of one connection. */
export const RESTART_BACKOFF_MS = 10_000;

/** The connection states that call for a restart. */
export type TroubleState = "disconnected" | "failed";

/** The ICE username fragment of a session description, or "". */
export function iceUfrag(sdp: string | undefined): string {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp ?? "")?.[1] ?? "";
}

/** One connection's restart schedule. */
export class IceRestartPolicy {
  readonly #leader: boolean;
  readonly #now: () => number;
  #lastRestartAt = -Infinity;
  #troubleSince: number | undefined;
  #state: TroubleState | undefined;

  /**
   * @param leader whether this side restarts first (the impolite side)
   * @param now the clock (ms) @default Date.now
   */
  constructor(leader: boolean, now: () => number = Date.now) {
    this.#leader = leader;
    this.#now = now;
  }

  /**
   * The connection is `disconnected` or `failed`. Returns the milliseconds
   * until {@linkcode due} should be asked (a restart may be due then).
   */
  trouble(state: TroubleState): number {
    const now = this.#now();
    // `failed` after `disconnected` counts from the failure (and is due
    // sooner); repeated events of one state do not move the schedule.
    if (
      this.#troubleSince === undefined ||
      (state === "failed" && this.#state !== "failed")
    ) {
      this.#troubleSince = now;
    }
    this.#state = state;
    return this.due();
  }

  /** A restart happened: ours, or an offer with new credentials from the peer. */
  restarted(): void {
    this.#lastRestartAt = this.#now();
  }

  /** The connection is connected (again): the outage is over. */
  connected(): void {
    this.#troubleSince = undefined;
    this.#state = undefined;
  }

  /**
   * Milliseconds until a restart is due; 0 means restart now; Infinity
   * means none (connected).
   */
  due(): number {
    if (this.#troubleSince === undefined || this.#state === undefined) {
      return Infinity;
    }
    const now = this.#now();
    const wait = (this.#state === "failed" ? 0 : DISCONNECTED_RESTART_MS) +
      (this.#leader ? 0 : FOLLOWER_GRACE_MS);
    const ownAt = this.#troubleSince + wait;
    const backoffAt = this.#lastRestartAt + RESTART_BACKOFF_MS;
    return Math.max(0, ownAt - now, backoffAt - now);
  }
}

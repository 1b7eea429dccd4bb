/**
 * The pure decisions of Parley's negotiation, kept apart from
 * `RTCPeerConnection` so they can be tested without a browser. See the
 * "Client conventions" of `docs/protocol.md`.
 *
 * @module
 */

/** What Parley puts in a signal's `data`. */
export type SignalData =
  | { description: RTCSessionDescriptionInit }
  | { candidate: RTCIceCandidateInit | null }
  | { hello: true };

/** Narrows a relayed signal's `data` to {@linkcode SignalData}. */
export function parseSignalData(data: unknown): SignalData | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const d = data as Record<string, unknown>;
  if (d.hello === true) return { hello: true };
  if ("description" in d) {
    const desc = d.description as Record<string, unknown> | null;
    if (
      desc && typeof desc.type === "string" &&
      ["offer", "answer", "pranswer", "rollback"].includes(desc.type) &&
      (desc.sdp === undefined || typeof desc.sdp === "string")
    ) {
      return { description: desc as unknown as RTCSessionDescriptionInit };
    }
    return undefined;
  }
  if ("candidate" in d) {
    const c = d.candidate;
    if (c === null) return { candidate: null };
    if (
      typeof c === "object" &&
      typeof (c as Record<string, unknown>).candidate === "string"
    ) return { candidate: c as RTCIceCandidateInit };
  }
  return undefined;
}

/**
 * Perfect negotiation's roles: the peer whose ID sorts lower is polite (it
 * rolls back its own offer on a collision); the other ignores the colliding
 * offer.
 */
export function isPolite(selfId: string, remoteId: string): boolean {
  return selfId < remoteId;
}

/** Whether an incoming description collides with our own offer. */
export function isOfferCollision(
  type: RTCSdpType,
  makingOffer: boolean,
  signalingState: RTCSignalingState,
): boolean {
  return type === "offer" && (makingOffer || signalingState !== "stable");
}

/** How the call should treat peers after a `joined`. */
export interface JoinPlan {
  /** Peers to greet with `{hello:true}` (we have no connection to them). */
  hello: string[];
  /** Our connections to peers no longer in the room: close them. */
  close: string[];
}

/**
 * Decides, after `joined`, whom to greet and whom to drop. A fresh join
 * greets nobody: the members already there get `peer-joined` and offer
 * first (no glare at call start). A resumed session (a reload, or a socket
 * that came back) greets the members it has no connection to, and keeps the
 * connections it has: those never depended on the socket.
 */
export function planAfterJoin(
  resumed: boolean,
  members: readonly string[],
  connected: readonly string[],
): JoinPlan {
  const memberSet = new Set(members);
  const connectedSet = new Set(connected);
  return {
    hello: resumed ? members.filter((id) => !connectedSet.has(id)) : [],
    close: connected.filter((id) => !memberSet.has(id)),
  };
}

/** Whether an ICE server list holds a TURN server. */
export function hasTurnServer(iceServers: readonly RTCIceServer[]): boolean {
  return iceServers.some((server) =>
    (Array.isArray(server.urls) ? server.urls : [server.urls]).some((url) =>
      /^turns?:/i.test(url)
    )
  );
}

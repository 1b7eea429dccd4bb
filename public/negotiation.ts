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
  | { hello: true }
  /** The sender muted or unmuted (for the others' tiles; no audio meaning). */
  | { muted: boolean };

/** Narrows a relayed signal's `data` to {@linkcode SignalData}. */
export function parseSignalData(data: unknown): SignalData | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const d = data as Record<string, unknown>;
  if (d.hello === true) return { hello: true };
  if (typeof d.muted === "boolean") return { muted: d.muted };
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

/**
 * Why a connection that had a TURN server failed, in plain words, from the
 * STUN/TURN error codes of `icecandidateerror` events (RFC 8489 section
 * 14.8: 401 bad credentials, 403 forbidden, 437/438 allocation trouble,
 * 486 quota; 701 is the browser's "could not reach the server").
 */
export function turnFailureNote(errorCodes: readonly number[]): string {
  if (errorCodes.includes(401)) {
    return "The TURN relay refused this server's credentials, so no relayed connection is possible. The server's TURN settings (TURN_SECRET) do not match the relay's: tell whoever runs this server.";
  }
  if (errorCodes.some((code) => code === 403 || code === 486)) {
    return "The TURN relay refused to relay this call (forbidden or over quota). Try again later, or turn Private mode off.";
  }
  if (errorCodes.includes(701)) {
    return "The TURN relay could not be reached from this network, so no relayed connection is possible.";
  }
  return "No connection could be made, not even through the TURN relay. A firewall may block it: try another network.";
}

/** Whether an ICE server list holds a TURN server. */
export function hasTurnServer(iceServers: readonly RTCIceServer[]): boolean {
  return iceServers.some((server) =>
    (Array.isArray(server.urls) ? server.urls : [server.urls]).some((url) =>
      /^turns?:/i.test(url)
    )
  );
}

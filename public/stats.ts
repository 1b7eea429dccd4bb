/**
 * Turning one `RTCPeerConnection.getStats()` report into the numbers the
 * stats panel shows. Pure: takes the report's values (plain objects) and the
 * previous sample, so rates come from the difference of two samples.
 *
 * @module
 */

/** How audio travels to a peer: straight, or through a TURN relay. */
export type PathKind = "direct" | "relayed";

/** One sample of a peer connection's statistics. */
export interface PeerStats {
  /** When the report was taken (ms, the report's own clock). */
  timestamp: number;
  /** Round-trip time of the selected candidate pair (ms). */
  rttMs?: number;
  /** Jitter of the incoming audio (ms). */
  jitterMs?: number;
  /** Incoming packets lost over the last interval, in percent. */
  lossPercent?: number;
  /** Incoming audio bitrate (kbit/s). */
  inKbps?: number;
  /** Outgoing audio bitrate (kbit/s). */
  outKbps?: number;
  /** Codec of the incoming audio, e.g. `opus`. */
  codec?: string;
  /** Candidate types of the selected pair, e.g. `host`, `srflx`, `relay`. */
  localCandidate?: string;
  remoteCandidate?: string;
  /** Derived from the candidate types. */
  path?: PathKind;
  /** Cumulative counters, kept for the next sample's rates. */
  packetsReceived: number;
  packetsLost: number;
  bytesReceived: number;
  bytesSent: number;
}

/** A stats entry as found in an `RTCStatsReport` (only what we read). */
export type StatsEntry = { id: string; type: string; [key: string]: unknown };

/** Derives a sample from `entries`, with rates relative to `previous`. */
export function deriveStats(
  entries: Iterable<StatsEntry>,
  previous?: PeerStats,
): PeerStats {
  const byId = new Map<string, StatsEntry>();
  for (const entry of entries) byId.set(entry.id, entry);
  let inbound: StatsEntry | undefined;
  let outbound: StatsEntry | undefined;
  let pair: StatsEntry | undefined;
  let timestamp = 0;
  for (const entry of byId.values()) {
    timestamp = Math.max(timestamp, num(entry.timestamp) ?? 0);
    if (entry.kind !== undefined && entry.kind !== "audio") continue;
    if (entry.type === "inbound-rtp") inbound = entry;
    if (entry.type === "outbound-rtp") outbound = entry;
    if (entry.type === "transport") {
      const id = entry.selectedCandidatePairId;
      if (typeof id === "string") pair = byId.get(id) ?? pair;
    }
  }
  // Firefox 153 has transport stats with the selected pair too, but a
  // report without them (older engines, or a transport not yet chosen)
  // falls back to the pair marked `selected` (Firefox's own field), then
  // to a nominated pair that succeeded.
  if (!pair) {
    for (const entry of byId.values()) {
      if (entry.type !== "candidate-pair") continue;
      if (entry.selected === true) pair = entry;
      else if (
        !pair && entry.nominated === true && entry.state === "succeeded"
      ) pair = entry;
    }
  }
  // The round trip RTCP measures, where the pair reports none.
  const remoteInbound = [...byId.values()].find((e) =>
    e.type === "remote-inbound-rtp" && (e.kind ?? "audio") === "audio"
  );
  const stats: PeerStats = {
    timestamp,
    packetsReceived: num(inbound?.packetsReceived) ?? 0,
    packetsLost: num(inbound?.packetsLost) ?? 0,
    bytesReceived: num(inbound?.bytesReceived) ?? 0,
    bytesSent: num(outbound?.bytesSent) ?? 0,
  };
  const jitter = num(inbound?.jitter);
  if (jitter !== undefined) stats.jitterMs = jitter * 1000;
  const codecId = inbound?.codecId ?? outbound?.codecId;
  const codec = typeof codecId === "string" ? byId.get(codecId) : undefined;
  if (typeof codec?.mimeType === "string") {
    stats.codec = codec.mimeType.replace(/^audio\//i, "");
  }
  const rtt = num(pair?.currentRoundTripTime) ??
    num(remoteInbound?.roundTripTime);
  if (rtt !== undefined) stats.rttMs = rtt * 1000;
  if (pair) {
    const local = byId.get(String(pair.localCandidateId));
    const remote = byId.get(String(pair.remoteCandidateId));
    if (typeof local?.candidateType === "string") {
      stats.localCandidate = local.candidateType;
    }
    if (typeof remote?.candidateType === "string") {
      stats.remoteCandidate = remote.candidateType;
    }
    if (stats.localCandidate && stats.remoteCandidate) {
      stats.path = stats.localCandidate === "relay" ||
          stats.remoteCandidate === "relay"
        ? "relayed"
        : "direct";
    }
  }
  if (previous && timestamp > previous.timestamp) {
    const seconds = (timestamp - previous.timestamp) / 1000;
    stats.inKbps = kbps(stats.bytesReceived - previous.bytesReceived, seconds);
    stats.outKbps = kbps(stats.bytesSent - previous.bytesSent, seconds);
    const received = stats.packetsReceived - previous.packetsReceived;
    const lost = stats.packetsLost - previous.packetsLost;
    if (received + lost > 0) {
      stats.lossPercent = Math.max(0, lost) / (received + Math.max(0, lost)) *
        100;
    } else stats.lossPercent = 0;
  }
  return stats;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value)
    ? value
    : undefined;
}

function kbps(bytes: number, seconds: number): number {
  return Math.max(0, bytes) * 8 / 1000 / seconds;
}

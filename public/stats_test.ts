import assert from "node:assert/strict";
import { deriveStats, type StatsEntry } from "./stats.ts";

function report(
  t: number,
  received: number,
  lost: number,
  bytesIn: number,
  bytesOut: number,
  localType = "host",
  remoteType = "host",
): StatsEntry[] {
  return [
    {
      id: "IT1",
      type: "inbound-rtp",
      kind: "audio",
      timestamp: t,
      packetsReceived: received,
      packetsLost: lost,
      bytesReceived: bytesIn,
      jitter: 0.004,
      codecId: "C1",
    },
    {
      id: "OT1",
      type: "outbound-rtp",
      kind: "audio",
      timestamp: t,
      bytesSent: bytesOut,
    },
    { id: "C1", type: "codec", timestamp: t, mimeType: "audio/opus" },
    {
      id: "T1",
      type: "transport",
      timestamp: t,
      selectedCandidatePairId: "CP1",
    },
    {
      id: "CP1",
      type: "candidate-pair",
      timestamp: t,
      localCandidateId: "L1",
      remoteCandidateId: "R1",
      currentRoundTripTime: 0.012,
    },
    { id: "L1", type: "local-candidate", candidateType: localType },
    { id: "R1", type: "remote-candidate", candidateType: remoteType },
  ];
}

Deno.test("deriveStats() reads RTT, jitter, codec and a direct path", () => {
  const s = deriveStats(report(1000, 50, 0, 4000, 4000));
  assert.equal(s.rttMs, 12);
  assert.equal(s.jitterMs, 4);
  assert.equal(s.codec, "opus");
  assert.equal(s.localCandidate, "host");
  assert.equal(s.path, "direct");
  assert.equal(s.inKbps, undefined);
});

Deno.test("deriveStats() computes bitrates and loss from the previous sample", () => {
  const first = deriveStats(report(1000, 50, 0, 4000, 3000));
  const second = deriveStats(report(2000, 95, 5, 8000, 7000), first);
  assert.equal(second.inKbps, 32);
  assert.equal(second.outKbps, 32);
  assert.equal(second.lossPercent, 10);
});

Deno.test("deriveStats() reports a relayed path when either side is relay", () => {
  const s = deriveStats(report(1000, 0, 0, 0, 0, "relay", "host"));
  assert.equal(s.path, "relayed");
});

Deno.test("deriveStats() falls back to the nominated pair without transport stats", () => {
  const entries = report(1000, 1, 0, 1, 1).filter((e) =>
    e.type !== "transport"
  );
  entries.push({
    id: "CP2",
    type: "candidate-pair",
    nominated: true,
    state: "succeeded",
    localCandidateId: "L1",
    remoteCandidateId: "R1",
    currentRoundTripTime: 0.02,
  });
  assert.equal(deriveStats(entries).rttMs, 20);
});

Deno.test("deriveStats() returns zero counters for an empty report", () => {
  const s = deriveStats([]);
  assert.equal(s.packetsReceived, 0);
  assert.equal(s.path, undefined);
});

/**
 * A report shaped like Firefox ESR 153's: `inbound-rtp` without `playoutId`
 * or `totalProcessingDelay`, candidate pairs with `selected`/`readable` and
 * no packet counters, and (here) no transport entry or pair round trip, so
 * the round trip comes from RTCP's `remote-inbound-rtp`. When Firefox offers,
 * the Chromium peer's candidate shows as `prflx`.
 */
function firefoxReport(t: number, received: number, bytesIn: number) {
  return [
    {
      id: "in",
      type: "inbound-rtp",
      kind: "audio",
      timestamp: t,
      ssrc: 1,
      packetsReceived: received,
      packetsLost: 0,
      bytesReceived: bytesIn,
      jitter: 0.002,
      codecId: "codec",
    },
    { id: "codec", type: "codec", timestamp: t, mimeType: "audio/opus" },
    {
      id: "out",
      type: "outbound-rtp",
      kind: "audio",
      timestamp: t,
      bytesSent: bytesIn,
    },
    {
      id: "rin",
      type: "remote-inbound-rtp",
      kind: "audio",
      timestamp: t,
      roundTripTime: 0.003,
    },
    {
      id: "p1",
      type: "candidate-pair",
      timestamp: t,
      state: "succeeded",
      nominated: true,
      selected: true,
      readable: true,
      localCandidateId: "l1",
      remoteCandidateId: "r1",
    },
    {
      id: "p2",
      type: "candidate-pair",
      timestamp: t,
      state: "failed",
      selected: false,
      localCandidateId: "l1",
      remoteCandidateId: "r2",
    },
    { id: "l1", type: "local-candidate", candidateType: "host" },
    { id: "r1", type: "remote-candidate", candidateType: "prflx" },
    { id: "r2", type: "remote-candidate", candidateType: "relay" },
  ];
}

Deno.test("deriveStats() reads a Firefox report: the selected pair, RTCP round trip, prflx", () => {
  const first = deriveStats(firefoxReport(1000, 50, 4000));
  const s = deriveStats(firefoxReport(2000, 100, 8000), first);
  assert.equal(s.rttMs, 3);
  assert.equal(s.jitterMs, 2);
  assert.equal(s.codec, "opus");
  assert.equal(s.localCandidate, "host");
  assert.equal(s.remoteCandidate, "prflx");
  assert.equal(s.path, "direct");
  assert.equal(s.inKbps, 32);
  assert.equal(s.lossPercent, 0);
});

import assert from "node:assert/strict";
import { assessQuality } from "./quality.ts";
import type { PeerStats } from "./stats.ts";

function sample(fields: Partial<PeerStats>): PeerStats {
  return {
    timestamp: 0,
    packetsReceived: 0,
    packetsLost: 0,
    bytesReceived: 0,
    bytesSent: 0,
    ...fields,
  };
}

Deno.test("assessQuality() says good when every measure is low", () => {
  const s = sample({ lossPercent: 0, rttMs: 40, jitterMs: 3 });
  assert.deepEqual(assessQuality([s, s]), { level: "good", summary: "good" });
});

Deno.test("assessQuality() names the worst measure: loss", () => {
  const s = sample({ lossPercent: 4, rttMs: 40, jitterMs: 3 });
  assert.deepEqual(assessQuality([s]), {
    level: "fair",
    summary: "fair: 4% loss",
  });
});

Deno.test("assessQuality() names the worst measure: round trip", () => {
  const s = sample({ lossPercent: 3, rttMs: 350, jitterMs: 3 });
  assert.deepEqual(assessQuality([s]), {
    level: "poor",
    summary: "poor: 350 ms round trip",
  });
});

Deno.test("assessQuality() averages the last five samples", () => {
  const calm = sample({ lossPercent: 0, rttMs: 40, jitterMs: 3 });
  const burst = sample({ lossPercent: 9, rttMs: 40, jitterMs: 3 });
  // One burst of 9% among five samples averages to 1.8%: still good.
  assert.equal(assessQuality([calm, calm, calm, calm, burst]).level, "good");
  // Old samples fall out of the window.
  assert.equal(
    assessQuality([burst, burst, burst, calm, calm, calm, calm, calm]).level,
    "good",
  );
});

Deno.test("assessQuality() is unknown without measurements", () => {
  assert.deepEqual(assessQuality([]), {
    level: "unknown",
    summary: "measuring…",
  });
  assert.equal(assessQuality([sample({})]).level, "unknown");
});

Deno.test("assessQuality() reads jitter when it is the worst", () => {
  const s = sample({ lossPercent: 0, rttMs: 20, jitterMs: 70 });
  assert.equal(assessQuality([s]).summary, "poor: 70 ms jitter");
});

/**
 * Call quality in three levels, from the statistics of the last few
 * seconds: packet loss, round-trip time and jitter, each against two
 * thresholds (fair, poor). The worst of the three sets the level, and the
 * summary names it ("fair: 4% loss", "poor: 350 ms round trip"). Pure.
 *
 * @module
 */
import type { PeerStats } from "./stats.ts";

/** How a connection sounds, roughly; `unknown` before any measurement. */
export type QualityLevel = "good" | "fair" | "poor" | "unknown";

/** A level and the words that explain it. */
export interface Quality {
  level: QualityLevel;
  /** "good", or the level and the worst measure: "fair: 4% loss". */
  summary: string;
}

/**
 * Thresholds (fair, poor). Opus conceals a few percent of loss; a round
 * trip past 300 ms makes people talk over each other (ITU-T G.114 puts
 * "most users satisfied" below 150 ms one way); jitter beyond ~50 ms
 * outgrows a typical jitter buffer.
 */
const LIMITS = {
  loss: [2, 8],
  rtt: [200, 300],
  jitter: [30, 50],
} as const;

/** Samples averaged, so one lost burst does not flip the level. */
export const QUALITY_WINDOW = 5;

const RANK: Record<QualityLevel, number> = {
  unknown: -1,
  good: 0,
  fair: 1,
  poor: 2,
};

function mean(values: (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0
    ? undefined
    : known.reduce((a, b) => a + b, 0) / known.length;
}

function levelOf(value: number, [fair, poor]: readonly [number, number]) {
  return value >= poor ? "poor" : value >= fair ? "fair" : "good";
}

/** The quality of the latest {@linkcode QUALITY_WINDOW} of `history`. */
export function assessQuality(history: readonly PeerStats[]): Quality {
  const recent = history.slice(-QUALITY_WINDOW);
  const loss = mean(recent.map((s) => s.lossPercent));
  const rtt = mean(recent.map((s) => s.rttMs));
  const jitter = mean(recent.map((s) => s.jitterMs));
  const measures: { level: QualityLevel; words: string }[] = [];
  if (loss !== undefined) {
    measures.push({
      level: levelOf(loss, LIMITS.loss),
      words: `${Number(loss.toFixed(loss < 10 ? 1 : 0))}% loss`,
    });
  }
  if (rtt !== undefined) {
    measures.push({
      level: levelOf(rtt, LIMITS.rtt),
      words: `${Math.round(rtt)} ms round trip`,
    });
  }
  if (jitter !== undefined) {
    measures.push({
      level: levelOf(jitter, LIMITS.jitter),
      words: `${Math.round(jitter)} ms jitter`,
    });
  }
  if (measures.length === 0) return { level: "unknown", summary: "measuring…" };
  // The first of the worst wins: loss, then round trip, then jitter.
  const worst = measures.reduce((a, b) =>
    RANK[b.level] > RANK[a.level] ? b : a
  );
  return worst.level === "good"
    ? { level: "good", summary: "good" }
    : { level: worst.level, summary: `${worst.level}: ${worst.words}` };
}

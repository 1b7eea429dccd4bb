/**
 * Figures of one measurement window, from two readings of a receiver's
 * `getStats()` counters (see `page_probes.ts`). Pure.
 *
 * @module
 */
import type { CallCounters } from "./page_probes.ts";

/** What `docs/call-quality.md` reports per call and condition. */
export interface ConditionFigures {
  /** Concealed samples over samples received, in the window (%). */
  concealedPercent?: number;
  /** Packets lost over packets expected, in the window (%). */
  lossPercent?: number;
  /** Receiver's jitter estimate at the window's end (ms). */
  jitterMs?: number;
  /** Mean time in the jitter buffer over the window (ms). */
  jitterBufferMs?: number;
  /** FEC packets received per second. */
  fecPerSec?: number;
  /** What this side sent (RTP payload, kbit/s). */
  sendKbps?: number;
  rttMs?: number;
  joinToFirstAudioMs?: number;
  recoveryMs?: number;
  iceRestarts?: number;
  mouthToEarP50Ms?: number;
  mouthToEarP90Ms?: number;
  clicks?: number;
  stoi?: number;
}

/** Figures of the window between two readings of one receiver. */
export function windowFigures(
  before: CallCounters,
  after: CallCounters,
): ConditionFigures {
  const d = (key: keyof CallCounters) =>
    (after[key] as number) - (before[key] as number);
  const seconds = Math.max(0.001, (after.at - before.at) / 1000);
  const received = d("packetsReceived");
  const lost = d("packetsLost");
  const samples = d("totalSamplesReceived");
  const emitted = d("jitterBufferEmittedCount");
  return {
    concealedPercent: samples > 0 ? 100 * d("concealedSamples") / samples : NaN,
    lossPercent: received + lost > 0 ? 100 * lost / (received + lost) : NaN,
    jitterMs: after.jitter * 1000,
    jitterBufferMs: emitted > 0 ? 1000 * d("jitterBufferDelay") / emitted : NaN,
    fecPerSec: d("fecPacketsReceived") / seconds,
    sendKbps: 8 * d("bytesSent") / seconds / 1000,
    rttMs: after.rttMs,
  };
}

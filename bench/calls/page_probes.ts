/**
 * What the call lab reads from a page, without app internals: an init
 * script that counts `restartIce()` calls and ICE credential generations on
 * every RTCPeerConnection (on top of `tests/e2e/browser.ts`, which records
 * the connections in `window.__pcs`), and `getStats()` readers for the
 * figures of `docs/call-quality.md`.
 *
 * @module
 */
import type { Page } from "playwright-core";

/** Counts ICE restarts and credential generations; sets lab preferences. */
export function probeScript(
  options: { tuning: boolean; prefs?: Record<string, boolean> },
): string {
  return `(() => {
  const P = RTCPeerConnection.prototype;
  const restartIce = P.restartIce;
  Object.defineProperty(window, "__restartCalls", { value: [], writable: false });
  P.restartIce = function () {
    window.__restartCalls.push(Date.now());
    return restartIce.call(this);
  };
  const states = [];
  Object.defineProperty(window, "__states", { value: states });
  const Recorded = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Recorded {
    constructor(...args) {
      super(...args);
      const log = () => states.push(
        [Date.now(), this.connectionState, this.iceConnectionState].join(" "),
      );
      this.addEventListener("connectionstatechange", log);
      this.addEventListener("iceconnectionstatechange", log);
    }
  };
  const setLocalDescription = P.setLocalDescription;
  P.setLocalDescription = async function (...args) {
    const result = await setLocalDescription.apply(this, args);
    const ufrag = /a=ice-ufrag:(\\S+)/.exec(this.localDescription?.sdp ?? "");
    if (ufrag) (this.__ufrags ??= new Set()).add(ufrag[1]);
    return result;
  };
  try {
    if (location.protocol.startsWith("http")) {
      // Processing off: the lab compares networks, not noise suppressors
      // (unless a measurement of the noise filter asks otherwise).
      localStorage.setItem("parley.prefs", JSON.stringify(${
    JSON.stringify({
      echoCancellation: false,
      noiseSuppression: false,
      autoGainControl: false,
      ...options.prefs,
    })
  }));
      localStorage.setItem("parley.audio-tuning", ${
    JSON.stringify(options.tuning ? "on" : "off")
  });
    }
  } catch {}
})();`;
}

/** Cumulative receive and send counters of one connection. */
export interface CallCounters {
  connectionState: string;
  packetsReceived: number;
  packetsLost: number;
  concealedSamples: number;
  totalSamplesReceived: number;
  jitterBufferDelay: number;
  jitterBufferEmittedCount: number;
  fecPacketsReceived: number;
  totalAudioEnergy: number;
  /** Jitter now (s). */
  jitter: number;
  bytesSent: number;
  packetsSent: number;
  /**
   * MIME types of the first codec of the local (received) and remote (sent)
   * description, e.g. `audio/red`.
   */
  inCodec: string;
  outCodec: string;
  /** Opus parameters of the applied remote description (what we send). */
  outOpusFmtp: string;
  rttMs: number;
  /** Local UDP port of the selected candidate pair. */
  localPort: number;
  /** ICE credential generations this side used (1 + ICE restarts). */
  iceGenerations: number;
  /** Time of the reading (ms since the epoch). */
  at: number;
}

/** Reads the counters of every open RTCPeerConnection of `page`. */
export function readCounters(page: Page): Promise<CallCounters[]> {
  return page.evaluate(async () => {
    type Pc = RTCPeerConnection & { __ufrags?: Set<string> };
    const pcs = (globalThis as unknown as { __pcs: Pc[] }).__pcs
      .filter((pc) => pc.connectionState !== "closed");
    return await Promise.all(pcs.map(async (pc) => {
      const report = await pc.getStats();
      const byId = new Map<string, Record<string, unknown>>();
      report.forEach((s) => byId.set(s.id, s));
      let inbound: Record<string, unknown> = {};
      let outbound: Record<string, unknown> = {};
      let pair: Record<string, unknown> | undefined;
      for (const s of byId.values()) {
        if (s.type === "inbound-rtp" && s.kind === "audio") inbound = s;
        if (s.type === "outbound-rtp" && s.kind === "audio") outbound = s;
        if (s.type === "transport" && s.selectedCandidatePairId) {
          pair = byId.get(String(s.selectedCandidatePairId));
        }
      }
      const n = (v: unknown) => Number(v ?? 0);
      // Chromium's stats name Opus even when RED wraps it: read the first
      // codec of each description's audio m-line, the one that is used.
      const firstCodec = (sdp: string | undefined) => {
        const m = /^m=audio \S+ \S+ (\d+)/m.exec(sdp ?? "");
        if (!m) return "";
        const map = new RegExp(`^a=rtpmap:${m[1]} ([^/\\s]+)`, "m")
          .exec(sdp ?? "");
        return map ? `audio/${map[1].toLowerCase()}` : "";
      };
      const opusFmtp = (sdp: string | undefined) => {
        const pt = /^a=rtpmap:(\d+) opus\//im.exec(sdp ?? "")?.[1];
        return pt
          ? new RegExp(`^a=fmtp:${pt} (.*)$`, "m").exec(sdp ?? "")?.[1] ?? ""
          : "";
      };
      return {
        connectionState: pc.connectionState,
        packetsReceived: n(inbound.packetsReceived),
        packetsLost: n(inbound.packetsLost),
        concealedSamples: n(inbound.concealedSamples),
        totalSamplesReceived: n(inbound.totalSamplesReceived),
        jitterBufferDelay: n(inbound.jitterBufferDelay),
        jitterBufferEmittedCount: n(inbound.jitterBufferEmittedCount),
        fecPacketsReceived: n(inbound.fecPacketsReceived),
        totalAudioEnergy: n(inbound.totalAudioEnergy),
        jitter: n(inbound.jitter),
        bytesSent: n(outbound.bytesSent),
        packetsSent: n(outbound.packetsSent),
        inCodec: firstCodec(pc.currentLocalDescription?.sdp),
        outCodec: firstCodec(pc.currentRemoteDescription?.sdp),
        outOpusFmtp: opusFmtp(pc.currentRemoteDescription?.sdp),
        rttMs: n(pair?.currentRoundTripTime) * 1000,
        localPort: n(byId.get(String(pair?.localCandidateId))?.port),
        iceGenerations: pc.__ufrags?.size ?? 0,
        at: Date.now(),
      };
    }));
  });
}

/** `restartIce()` calls the page made so far (epoch ms of each). */
export function restartCalls(page: Page): Promise<number[]> {
  return page.evaluate(() => [
    ...(globalThis as unknown as { __restartCalls: number[] }).__restartCalls,
  ]);
}

/** Connection and ICE state changes so far ("epoch-ms state ice"). */
export function stateLog(page: Page): Promise<string[]> {
  return page.evaluate(() => [
    ...(globalThis as unknown as { __states: string[] }).__states,
  ]);
}

/** Whether this browser can put RED first (setCodecPreferences and RED). */
export function canPreferRed(page: Page): Promise<boolean> {
  return page.evaluate(() =>
    typeof RTCRtpTransceiver.prototype.setCodecPreferences === "function" &&
    (RTCRtpReceiver.getCapabilities("audio")?.codecs ?? []).some((c) =>
      c.mimeType.toLowerCase() === "audio/red"
    )
  );
}

/**
 * Starts watching, in the page, for the first inbound audio packet after
 * now: polls `getStats()` every 20 ms (up to `timeoutMs`) and stores the
 * epoch time of the first rise of `packetsReceived` in
 * `window.__firstPacketAfter`. Read it with {@linkcode firstPacketAfter}.
 */
export function watchFirstPacket(page: Page, timeoutMs: number): Promise<void> {
  return page.evaluate(async (timeout) => {
    const g = globalThis as unknown as {
      __pcs: RTCPeerConnection[];
      __firstPacketAfter?: number | null;
    };
    const received = async () => {
      let total = 0;
      for (const pc of g.__pcs) {
        if (pc.connectionState === "closed") continue;
        (await pc.getStats()).forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "audio") {
            total += Number(s.packetsReceived ?? 0);
          }
        });
      }
      return total;
    };
    g.__firstPacketAfter = null;
    const start = await received();
    const end = Date.now() + timeout;
    const timer = setInterval(async () => {
      if (Date.now() > end) return clearInterval(timer);
      if ((await received()) > start && g.__firstPacketAfter === null) {
        g.__firstPacketAfter = Date.now();
        clearInterval(timer);
      }
    }, 20);
  }, timeoutMs);
}

/** The time {@linkcode watchFirstPacket} saw a packet, or null. */
export function firstPacketAfter(page: Page): Promise<number | null> {
  return page.evaluate(() =>
    (globalThis as unknown as { __firstPacketAfter?: number | null })
      .__firstPacketAfter ?? null
  );
}

/**
 * Parley's audio codec policy, chosen from the impairment lab's figures
 * (`docs/call-quality.md`): adaptive RED and DTX (RFC 2198, `audio/red`). Under
 * random loss RED sends each 20 ms frame twice, in consecutive packets, so a
 * single lost packet costs nothing (Opus in-band FEC, the browsers' default
 * and kept, only carries a coarse copy); Chromium offers RED but never picks
 * it unless it comes first. But RED doubles the audio payload and, measured
 * in Chromium 156, adds about 80 ms to mouth-to-ear latency (its jitter
 * buffer waits longer). So each side asks for RED (puts it first in its own
 * descriptions, which is what the other side sends) only while it measures
 * loss on what it receives: {@linkcode RedSwitch} decides, with hysteresis.
 *
 * And each side sends Opus with DTX (discontinuous transmission, see
 * {@linkcode withDtx}): silence costs a mesh almost nothing.
 *
 * Feature-detected: where `setCodecPreferences` or `audio/red` is missing
 * (older Firefox, Safari) nothing changes and the call uses plain Opus. The
 * lab switches the tuning off with the `parley.audio-tuning` storage key set
 * to `off`, to compare with browser defaults in the same run.
 *
 * @module
 */

/** The storage key that switches the tuning off (`"off"`), for the lab. */
export const AUDIO_TUNING_KEY = "parley.audio-tuning";

/** The fields of an `RTCRtpCodec` this policy reads. */
export interface CodecLike {
  mimeType: string;
  clockRate?: number;
  channels?: number;
  sdpFmtpLine?: string;
}

function isRed(codec: CodecLike): boolean {
  return codec.mimeType.toLowerCase() === "audio/red";
}

function isOpus(codec: CodecLike): boolean {
  return codec.mimeType.toLowerCase() === "audio/opus";
}

/** Whether `codecs` hold both RED and the Opus it wraps. */
export function supportsRed(codecs: readonly CodecLike[]): boolean {
  return codecs.some(isRed) && codecs.some(isOpus);
}

/**
 * Orders `codecs` for voice under loss: RED first, then Opus, then the rest
 * in their own order. Nothing is removed, so a peer without RED still
 * agrees on Opus. Without RED (or Opus) the list comes back unchanged.
 */
export function preferRed<T extends CodecLike>(codecs: readonly T[]): T[] {
  if (!supportsRed(codecs)) return [...codecs];
  return [
    ...codecs.filter(isRed),
    ...codecs.filter(isOpus),
    ...codecs.filter((c) => !isRed(c) && !isOpus(c)),
  ];
}

/** Orders Opus first, then the rest (RED included) in their own order. */
export function preferOpus<T extends CodecLike>(codecs: readonly T[]): T[] {
  return [...codecs.filter(isOpus), ...codecs.filter((c) => !isOpus(c))];
}

/** Received loss (%) that switches RED on, averaged over {@linkcode RED_ON_WINDOW_MS}. */
export const RED_ON_LOSS_PERCENT = 2;
/** How far back the loss that switches RED on is averaged. */
export const RED_ON_WINDOW_MS = 3_000;
/** Received loss (%) every sample must stay under to switch RED off… */
export const RED_OFF_LOSS_PERCENT = 0.5;
/** …for this long. */
export const RED_OFF_AFTER_MS = 30_000;
/** How long RED runs before the switch checks it did not make loss worse… */
export const RED_CHECK_AFTER_MS = 4_000;
/** …until when (later, more loss is the network's, not RED's). */
export const RED_CHECK_UNTIL_MS = 10_000;
/** How long RED stays off after it made loss worse. */
export const RED_BACKOFF_MS = 120_000;

/**
 * Whether to ask for RED, from samples of received loss: on when the mean
 * loss of the last 3 s reaches 2% (two samples at least), off when every
 * sample of the last 30 s is under 0.5%. The gap between the two keeps a
 * call from renegotiating back and forth. On a thin link the loss comes
 * from the link's own queue, and RED's doubled stream makes it worse (the
 * lab's 64 kbit/s row): when, 4–10 s after RED came on, loss is more than
 * twice the loss that switched it on (and 10 points more), RED goes off for
 * 2 minutes. Later rises are the network's own and keep RED on. Pure, with
 * an injected clock.
 */
export class RedSwitch {
  readonly #now: () => number;
  #samples: { at: number; loss: number }[] = [];
  #on = false;
  #onSince = 0;
  #lossBefore = 0;
  #blockedUntil = -Infinity;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Whether RED is wanted now. */
  get on(): boolean {
    return this.#on;
  }

  #recentMean(now: number): { mean: number; count: number } {
    const recent = this.#samples.filter((s) => s.at > now - RED_ON_WINDOW_MS);
    const sum = recent.reduce((a, s) => a + s.loss, 0);
    return { mean: sum / Math.max(1, recent.length), count: recent.length };
  }

  /** Adds one sample of received loss (%) and returns the decision. */
  note(lossPercent: number | undefined): boolean {
    if (lossPercent === undefined || !Number.isFinite(lossPercent)) {
      return this.#on;
    }
    const now = this.#now();
    this.#samples.push({ at: now, loss: lossPercent });
    this.#samples = this.#samples.filter((s) => s.at > now - RED_OFF_AFTER_MS);
    const { mean, count } = this.#recentMean(now);
    if (!this.#on) {
      if (
        count >= 2 && mean >= RED_ON_LOSS_PERCENT && now >= this.#blockedUntil
      ) {
        this.#on = true;
        this.#onSince = now;
        this.#lossBefore = mean;
      }
    } else if (
      now - this.#onSince >= RED_CHECK_AFTER_MS &&
      now - this.#onSince <= RED_CHECK_UNTIL_MS &&
      mean > Math.max(2 * this.#lossBefore, this.#lossBefore + 10)
    ) {
      this.#on = false;
      this.#blockedUntil = now + RED_BACKOFF_MS;
    } else if (
      now - this.#onSince >= RED_OFF_AFTER_MS &&
      this.#samples.every((s) => s.loss < RED_OFF_LOSS_PERCENT)
    ) {
      this.#on = false;
    }
    return this.#on;
  }
}

/** Whether the tuning is on (the default) according to `storage`. */
export function audioTuningEnabled(
  storage: Pick<Storage, "getItem"> | undefined = safeLocalStorage(),
): boolean {
  try {
    return storage?.getItem(AUDIO_TUNING_KEY) !== "off";
  } catch {
    return true;
  }
}

function safeLocalStorage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}

/**
 * Puts RED (or, with `red` false, Opus) first on `transceiver`, for the next
 * offer or answer. Returns whether the preference was applied; false where
 * the browser has no `setCodecPreferences` or no RED.
 */
export function tuneAudioTransceiver(
  transceiver: RTCRtpTransceiver,
  red: boolean,
): boolean {
  if (typeof transceiver.setCodecPreferences !== "function") return false;
  // setCodecPreferences takes the receiver's capabilities (the spec since
  // 2023; Chromium accepts both lists).
  const capabilities = typeof RTCRtpReceiver !== "undefined" &&
      typeof RTCRtpReceiver.getCapabilities === "function"
    ? RTCRtpReceiver.getCapabilities("audio")
    : null;
  const codecs = capabilities?.codecs ?? [];
  if (!supportsRed(codecs)) return false;
  try {
    transceiver.setCodecPreferences(
      red ? preferRed(codecs) : preferOpus(codecs),
    );
    return true;
  } catch (error) {
    console.warn("parley: setCodecPreferences failed", error);
    return false;
  }
}

/**
 * `sdp` (a description from the other side) with `usedtx=1` on every Opus
 * format, so this side sends Opus with discontinuous transmission: while
 * the microphone hears silence, one small comfort-noise frame every 400 ms
 * instead of 50 packets a second. Measured in Chromium 156 for a person who
 * speaks 37% of the time: 11.5 instead of 28.2 kbit/s of payload and 21
 * instead of 50 packets a second, to every peer of the mesh
 * (`docs/call-quality.md`). Applied to the remote description because that
 * is what configures our encoder; the other side decides for itself.
 * Formats that already say `usedtx` keep their value.
 */
export function withDtx(sdp: string): string {
  const opus = new Set(
    [...sdp.matchAll(/^a=rtpmap:(\d+) opus\/48000/gim)].map((m) => m[1]),
  );
  return sdp.replace(
    /^a=fmtp:(\d+) ([^\r\n]*)/gm,
    (line, pt: string, params: string) =>
      opus.has(pt) && !/(^|;)\s*usedtx=/.test(params)
        ? `a=fmtp:${pt} ${params};usedtx=1`
        : line,
  );
}

/**
 * Parley's audio codec policy, chosen from the impairment lab's figures
 * (`docs/call-quality.md`): RED (RFC 2198, `audio/red`) first, Opus with
 * in-band FEC (the browsers' default) second. Under random loss RED sends
 * each 20 ms frame twice, in consecutive packets, so a single lost packet
 * costs nothing; in-band FEC only carries a coarse copy and Chromium offers
 * RED by default but never picks it unless it comes first.
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
 * Puts RED first on `transceiver` (before an offer or answer is made).
 * Returns whether the preference was applied; false where the browser has
 * no `setCodecPreferences` or no RED.
 */
export function tuneAudioTransceiver(transceiver: RTCRtpTransceiver): boolean {
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
    transceiver.setCodecPreferences(preferRed(codecs));
    return true;
  } catch (error) {
    console.warn("parley: setCodecPreferences failed", error);
    return false;
  }
}

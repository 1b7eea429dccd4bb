/**
 * Thin adapters over the browser's media APIs: opening the microphone with
 * the chosen processing, listing devices, measuring levels with an
 * AnalyserNode, and explaining `getUserMedia` failures in plain words.
 *
 * @module
 */
import type { DeviceOption } from "./audio_model.ts";

/** Microphone options the user controls. */
export interface MicOptions {
  deviceId: string;
  echoCancellation: boolean;
  noiseSuppression: boolean;
  autoGainControl: boolean;
}

/**
 * The `getUserMedia` audio constraints for `options`. Only what every engine
 * takes: the processing options as plain booleans (ideal values, which an
 * engine without one ignores; an `exact` one would make Safari reject the
 * whole request), and `exact` only for a device the user chose. No sample
 * rate, channel count or latency: Safari and iOS refuse or ignore them.
 */
export function micConstraints(options: MicOptions): MediaTrackConstraints {
  const constraints: MediaTrackConstraints = {
    echoCancellation: options.echoCancellation,
    noiseSuppression: options.noiseSuppression,
    autoGainControl: options.autoGainControl,
  };
  if (options.deviceId) constraints.deviceId = { exact: options.deviceId };
  return constraints;
}

/**
 * Opens the microphone. Chromium ignores `applyConstraints` for the
 * processing options, so a change means opening the microphone again. A
 * chosen device that is gone (iOS Safari also renews device IDs between
 * visits) falls back to the default microphone instead of failing.
 */
export async function openMicrophone(
  options: MicOptions,
): Promise<MediaStream> {
  const open = (options: MicOptions) =>
    navigator.mediaDevices.getUserMedia({
      audio: micConstraints(options),
      video: false,
    });
  try {
    return await open(options);
  } catch (error) {
    const name = (error as { name?: unknown } | null)?.name;
    if (
      !options.deviceId ||
      (name !== "OverconstrainedError" && name !== "NotFoundError")
    ) {
      throw error;
    }
    return await open({ ...options, deviceId: "" });
  }
}

/** Why WebRTC cannot work in this page, or an empty string when it can. */
export function unsupportedReason(): string {
  if (!globalThis.isSecureContext) {
    return "This page is not a secure context, so the browser will not open the microphone. Open Parley over https:// (or on localhost).";
  }
  if (
    typeof RTCPeerConnection === "undefined" ||
    !navigator.mediaDevices?.getUserMedia
  ) {
    return "This browser cannot make voice calls (no WebRTC or microphone access). Try a current Chrome, Edge, Firefox or Safari.";
  }
  return "";
}

/** Plain words for a `getUserMedia` failure. */
export function describeMicError(error: unknown): string {
  const name = error instanceof DOMException || error instanceof Error
    ? error.name
    : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Microphone permission was denied. Allow the microphone for this site in the browser's address bar, then try again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Plug one in (or choose another in Microphone) and try again.";
    case "NotReadableError":
    case "AbortError":
      return "The microphone is busy or unavailable (another app may be using it).";
    default:
      return `The microphone could not be opened${
        error instanceof Error ? `: ${error.message}` : "."
      }`;
  }
}

/** Lists microphones and speakers; labels appear once permission is given. */
export async function listDevices(): Promise<
  { mics: DeviceOption[]; speakers: DeviceOption[] }
> {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const pick = (kind: MediaDeviceKind) =>
    devices.filter((d) => d.kind === kind && d.deviceId !== "").map((d, i) => ({
      deviceId: d.deviceId === "default" ? "" : d.deviceId,
      label: d.label ||
        (kind === "audioinput" ? `Microphone ${i + 1}` : `Speaker ${i + 1}`),
    }));
  return {
    mics: dedupe(pick("audioinput")),
    speakers: dedupe(pick("audiooutput")),
  };
}

function dedupe(options: DeviceOption[]): DeviceOption[] {
  const seen = new Set<string>();
  return options.filter((o) => !seen.has(o.deviceId) && seen.add(o.deviceId));
}

/** The quietest level a meter shows (dBFS); quieter reads as 0. */
export const METER_FLOOR_DB = -60;

/**
 * The level of time-domain samples on a 0–1 scale that follows loudness:
 * their RMS in dBFS mapped linearly from {@linkcode METER_FLOOR_DB} (0) to
 * full scale (1), so quiet speech still moves the meter.
 */
export function rmsLevel(samples: Float32Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB));
}

/** A level meter on one stream: polls an AnalyserNode. */
export class LevelMeter {
  readonly #source: MediaStreamAudioSourceNode;
  readonly #analyser: AnalyserNode;
  readonly #buffer: Float32Array<ArrayBuffer>;

  constructor(context: AudioContext, stream: MediaStream) {
    this.#source = context.createMediaStreamSource(stream);
    this.#analyser = context.createAnalyser();
    this.#analyser.fftSize = 1024;
    this.#buffer = new Float32Array(this.#analyser.fftSize);
    this.#source.connect(this.#analyser);
  }

  /** The current level, 0–1. */
  read(): number {
    this.#analyser.getFloatTimeDomainData(this.#buffer);
    return rmsLevel(this.#buffer);
  }

  /** Disconnects the nodes; idempotent. */
  close(): void {
    this.#source.disconnect();
  }
}

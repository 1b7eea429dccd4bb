/**
 * Local audio state: mute and push to talk, processing options and the
 * noise filter, chosen
 * devices, the device lists and the local level. Preferences are saved to
 * `localStorage` by an effect of the model.
 *
 * @module
 */
import { action, computed, createModel, effect, signal } from "@preact/signals";
import { loadPrefs, type Prefs, savePrefs } from "./prefs.ts";
import type { NoiseFilterState } from "./noise_filter.ts";

/** A device as the selects list it. */
export interface DeviceOption {
  deviceId: string;
  label: string;
}

/** Level (0–1, see `rmsLevel`) above which someone counts as speaking: -42 dBFS. */
export const SPEAKING_LEVEL = 0.3;

/** The audio model; `prefs` default to the stored ones. */
export const AudioModel = createModel((prefs: Prefs = loadPrefs()) => {
  const name = signal(prefs.name);
  const echoCancellation = signal(prefs.echoCancellation);
  const noiseSuppression = signal(prefs.noiseSuppression);
  const autoGainControl = signal(prefs.autoGainControl);
  /** The user wants RNNoise on the microphone. */
  const noiseFilter = signal(prefs.noiseFilter);
  /** Whether RNNoise runs on what we send right now. */
  const noiseFilterState = signal<NoiseFilterState>("off");
  const pushToTalk = signal(prefs.pushToTalk);
  const privateMode = signal(prefs.privateMode);
  const micId = signal(prefs.micId);
  const speakerId = signal(prefs.speakerId);
  const muted = signal(false);
  /** Space is held down (push to talk). */
  const talking = signal(false);
  const mics = signal<DeviceOption[]>([]);
  const speakers = signal<DeviceOption[]>([]);
  /** Whether the browser can choose the output device (setSinkId). */
  const canChooseSpeaker = signal(false);
  /** Level of our own microphone, 0–1, even while muted. */
  const localLevel = signal(0);
  /** Whether the microphone is open (the check or the call). */
  const micLive = signal(false);
  /** The autoplay policy held remote audio back: a click will start it. */
  const playbackBlocked = signal(false);

  /** Whether our audio goes out to the others right now. */
  const sending = computed(() =>
    !muted.value && (!pushToTalk.value || talking.value)
  );
  /** The user speaks but nobody hears it: show a hint. */
  const speakingWhileMuted = computed(() =>
    !sending.value && localLevel.value > SPEAKING_LEVEL
  );

  effect(() => {
    savePrefs({
      name: name.value,
      echoCancellation: echoCancellation.value,
      noiseSuppression: noiseSuppression.value,
      autoGainControl: autoGainControl.value,
      noiseFilter: noiseFilter.value,
      pushToTalk: pushToTalk.value,
      privateMode: privateMode.value,
      micId: micId.value,
      speakerId: speakerId.value,
    });
  });

  return {
    name,
    echoCancellation,
    noiseSuppression,
    autoGainControl,
    noiseFilter,
    noiseFilterState,
    pushToTalk,
    privateMode,
    micId,
    speakerId,
    muted,
    talking,
    mics,
    speakers,
    canChooseSpeaker,
    localLevel,
    micLive,
    playbackBlocked,
    sending,
    speakingWhileMuted,
    toggleMute: action(() => {
      muted.value = !muted.value;
    }),
  };
});

/** An instance of {@linkcode AudioModel}. */
export type Audio = InstanceType<typeof AudioModel>;

/**
 * Picks the device to use from `available`: the preferred one if present,
 * else the system default (empty ID), so an unplugged device falls back
 * sensibly.
 */
export function pickDevice(
  preferred: string,
  available: readonly DeviceOption[],
): string {
  return available.some((d) => d.deviceId === preferred) ? preferred : "";
}

/**
 * Audio settings (in the settings dialog, before joining and in the call):
 * the local microphone meter, devices, processing, push to talk and
 * private mode. Every control writes straight into the audio model; the
 * call's effects apply the change to the live microphone.
 *
 * @module
 */
import type { Signal } from "@preact/signals";
import type { Audio, DeviceOption } from "./audio_model.ts";
import { SPEAKING_LEVEL } from "./audio_model.ts";

/** The settings controls. */
export function SettingsPanel({ audio }: { audio: Audio }) {
  return (
    <div class="settings">
      <LocalMeter audio={audio} />
      <DeviceSelect
        id="mic-select"
        label="Microphone"
        value={audio.micId}
        options={audio.mics.value}
      />
      {audio.canChooseSpeaker.value
        ? (
          <DeviceSelect
            id="speaker-select"
            label="Speaker"
            value={audio.speakerId}
            options={audio.speakers.value}
          />
        )
        : (
          <p class="hint">
            This browser plays calls on its default speaker (no Speaker choice).
          </p>
        )}
      <fieldset>
        <legend>Processing</legend>
        <Check label="Echo cancellation" value={audio.echoCancellation} />
        <Check label="Noise suppression" value={audio.noiseSuppression} />
        <Check label="Auto gain control" value={audio.autoGainControl} />
        <Check label="Noise filter (RNNoise)" value={audio.noiseFilter} />
        <NoiseFilterNote audio={audio} />
      </fieldset>
      <fieldset>
        <legend>Talking</legend>
        <Check label="Push to talk" value={audio.pushToTalk} />
        <p class="hint">
          Hold Space to talk while Push to talk is on. Press M to mute or
          unmute.
        </p>
        <Check label="Private mode (relay only)" value={audio.privateMode} />
        <p class="hint">
          Private mode sends audio only through the server's TURN relay, so the
          others never see your address (applies to new connections).
        </p>
      </fieldset>
    </div>
  );
}

const FILTER_NOTES = {
  off:
    "The noise filter removes steady noise (fans, traffic, keyboards) with a small neural network in this browser, beyond the browser's own noise suppression. It loads about 200 KB when switched on.",
  loading: "Loading the noise filter…",
  on: "The noise filter is on: the others hear your voice without the noise.",
  failed:
    "The noise filter could not start in this browser; your microphone is sent without it.",
} as const;

/** What the noise filter is doing, in words. */
function NoiseFilterNote({ audio }: { audio: Audio }) {
  const state = audio.noiseFilterState.value;
  return (
    <p class="hint" role={state === "failed" ? "alert" : undefined}>
      {FILTER_NOTES[state]}
    </p>
  );
}

/** The local microphone's live level. */
export function LocalMeter({ audio }: { audio: Audio }) {
  const level = audio.localLevel.value;
  return (
    <div class="meter-row">
      <span id="local-meter-label">Your microphone</span>
      <meter
        aria-labelledby="local-meter-label"
        min={0}
        max={1}
        low={0.3}
        high={0.92}
        optimum={0.6}
        value={level}
      />
      <span class={level > SPEAKING_LEVEL ? "talk on" : "talk"}>
        {audio.micLive.value
          ? (level > SPEAKING_LEVEL ? "speaking" : "quiet")
          : "off"}
      </span>
    </div>
  );
}

function DeviceSelect(
  { id, label, value, options }: {
    id: string;
    label: string;
    value: Signal<string>;
    options: DeviceOption[];
  },
) {
  const hasDefault = options.some((o) => o.deviceId === "");
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        value={value.value}
        onChange={(e) => value.value = e.currentTarget.value}
      >
        {hasDefault ? null : <option value="">System default</option>}
        {options.map((o) => (
          <option key={o.deviceId} value={o.deviceId}>
            {o.deviceId === "" ? `System default (${o.label})` : o.label}
          </option>
        ))}
      </select>
    </div>
  );
}

function Check({ label, value }: { label: string; value: Signal<boolean> }) {
  return (
    <label class="check">
      <input
        type="checkbox"
        checked={value.value}
        onChange={(e) => value.value = e.currentTarget.checked}
      />
      {label}
    </label>
  );
}

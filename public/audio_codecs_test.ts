import assert from "node:assert/strict";
import {
  AUDIO_TUNING_KEY,
  audioTuningEnabled,
  preferRed,
  supportsRed,
} from "./audio_codecs.ts";

// What Chromium 156 lists in RTCRtpReceiver.getCapabilities("audio").
const CHROMIUM = [
  { mimeType: "audio/opus", clockRate: 48000, channels: 2 },
  { mimeType: "audio/red", clockRate: 48000, channels: 2 },
  { mimeType: "audio/G722", clockRate: 8000 },
  { mimeType: "audio/PCMU", clockRate: 8000 },
  { mimeType: "audio/PCMA", clockRate: 8000 },
  { mimeType: "audio/CN", clockRate: 8000 },
  { mimeType: "audio/telephone-event", clockRate: 48000 },
];

Deno.test("preferRed() puts RED first and Opus second when both exist", () => {
  const ordered = preferRed(CHROMIUM).map((c) => c.mimeType);
  assert.deepEqual(ordered.slice(0, 2), ["audio/red", "audio/opus"]);
  assert.deepEqual(ordered.slice(2), [
    "audio/G722",
    "audio/PCMU",
    "audio/PCMA",
    "audio/CN",
    "audio/telephone-event",
  ]);
});

Deno.test("preferRed() keeps every codec so a peer without RED agrees on Opus", () => {
  assert.equal(preferRed(CHROMIUM).length, CHROMIUM.length);
});

Deno.test("preferRed() changes nothing when RED or Opus is missing", () => {
  const noRed = CHROMIUM.filter((c) => c.mimeType !== "audio/red");
  assert.deepEqual(preferRed(noRed), noRed);
  const noOpus = CHROMIUM.filter((c) => c.mimeType !== "audio/opus");
  assert.deepEqual(preferRed(noOpus), noOpus);
  assert.equal(supportsRed(noOpus), false);
});

Deno.test("preferRed() matches MIME types case-insensitively", () => {
  const mixed = [
    { mimeType: "audio/PCMU" },
    { mimeType: "audio/OPUS" },
    { mimeType: "Audio/RED" },
  ];
  assert.deepEqual(preferRed(mixed).map((c) => c.mimeType), [
    "Audio/RED",
    "audio/OPUS",
    "audio/PCMU",
  ]);
});

Deno.test("audioTuningEnabled() is on unless storage says off", () => {
  const store = (value: string | null) => ({ getItem: () => value });
  assert.equal(audioTuningEnabled(store(null)), true);
  assert.equal(audioTuningEnabled(store("on")), true);
  assert.equal(audioTuningEnabled(store("off")), false);
  assert.equal(audioTuningEnabled(undefined), true);
  const throwing = {
    getItem: (): string | null => {
      throw new DOMException("denied", "SecurityError");
    },
  };
  assert.equal(audioTuningEnabled(throwing), true);
  assert.equal(AUDIO_TUNING_KEY, "parley.audio-tuning");
});

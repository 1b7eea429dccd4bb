import assert from "node:assert/strict";
import {
  AUDIO_TUNING_KEY,
  audioTuningEnabled,
  preferOpus,
  preferRed,
  RED_BACKOFF_MS,
  RED_OFF_AFTER_MS,
  RedSwitch,
  supportsRed,
  withDtx,
} from "./audio_codecs.ts";
import { FakeClock } from "../testing/wait.ts";

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

Deno.test("preferOpus() puts Opus first and keeps RED in the list", () => {
  const ordered = preferOpus(preferRed(CHROMIUM)).map((c) => c.mimeType);
  assert.deepEqual(ordered.slice(0, 2), ["audio/opus", "audio/red"]);
  assert.equal(ordered.length, CHROMIUM.length);
});

/** Feeds one sample a second; returns the decision after the last. */
function feed(red: RedSwitch, clock: FakeClock, losses: number[]): boolean {
  let on = red.on;
  for (const loss of losses) {
    clock.advance(1_000);
    on = red.note(loss);
  }
  return on;
}

Deno.test("RedSwitch stays off on a clean link and on one lost packet", () => {
  const clock = new FakeClock();
  const red = new RedSwitch(clock.now);
  assert.equal(feed(red, clock, Array(20).fill(0)), false);
  assert.equal(feed(red, clock, [2, 0, 0, 0]), false);
});

Deno.test("RedSwitch turns on after two seconds of steady loss", () => {
  const clock = new FakeClock();
  const red = new RedSwitch(clock.now);
  assert.equal(feed(red, clock, [10]), false);
  assert.equal(feed(red, clock, [10]), true);
});

Deno.test("RedSwitch stays on while loss lasts and turns off after 30 s clean", () => {
  const clock = new FakeClock();
  const red = new RedSwitch(clock.now);
  feed(red, clock, [5, 5]);
  assert.equal(feed(red, clock, Array(60).fill(1)), true);
  // Clean for less than the off delay: still on.
  assert.equal(
    feed(red, clock, Array(RED_OFF_AFTER_MS / 1000 - 2).fill(0)),
    true,
  );
  assert.equal(feed(red, clock, [0, 0, 0]), false);
});

Deno.test("RedSwitch ignores missing samples", () => {
  const clock = new FakeClock();
  const red = new RedSwitch(clock.now);
  assert.equal(red.note(undefined), false);
  assert.equal(red.note(Number.NaN), false);
  feed(red, clock, [10, 10]);
  assert.equal(red.note(undefined), true);
});

Deno.test("RedSwitch backs off when RED makes loss worse (a thin link)", () => {
  const clock = new FakeClock();
  const red = new RedSwitch(clock.now);
  assert.equal(feed(red, clock, [6, 6]), true);
  // RED's doubled stream overflows the link: loss climbs to 30%.
  assert.equal(feed(red, clock, [30, 30, 30, 30]), false);
  // Loss stays, but RED stays off for the backoff…
  assert.equal(
    feed(red, clock, Array(RED_BACKOFF_MS / 1000 - 5).fill(6)),
    false,
  );
  // …and may come back after it.
  assert.equal(feed(red, clock, Array(6).fill(6)), true);
});

Deno.test("RedSwitch keeps RED when loss with it stays as it was", () => {
  const clock = new FakeClock();
  const red = new RedSwitch(clock.now);
  feed(red, clock, [10, 10]);
  assert.equal(feed(red, clock, Array(20).fill(12)), true);
});

Deno.test("RedSwitch keeps RED when the network's loss grows later", () => {
  const clock = new FakeClock();
  const red = new RedSwitch(clock.now);
  feed(red, clock, [5, 5]);
  assert.equal(feed(red, clock, Array(15).fill(10)), true);
  assert.equal(feed(red, clock, Array(20).fill(20)), true);
});

const OFFER = [
  "v=0",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9",
  "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;useinbandfec=1",
  "a=rtpmap:63 red/48000/2",
  "a=fmtp:63 111/111",
  "a=rtpmap:9 G722/8000",
  "",
].join("\r\n");

Deno.test("withDtx() asks for DTX on Opus only", () => {
  const out = withDtx(OFFER);
  assert.match(out, /a=fmtp:111 minptime=10;useinbandfec=1;usedtx=1\r\n/);
  assert.match(out, /a=fmtp:63 111\/111\r\n/);
  assert.equal(out.replace(";usedtx=1", ""), OFFER);
});

Deno.test("withDtx() keeps a usedtx the other side already chose", () => {
  const off = OFFER.replace("useinbandfec=1", "useinbandfec=1;usedtx=0");
  assert.equal(withDtx(off), off);
  assert.equal(withDtx(withDtx(OFFER)), withDtx(OFFER));
});

Deno.test("withDtx() finds Opus by its rtpmap under any payload type", () => {
  const sdp = "a=rtpmap:96 OPUS/48000/2\na=fmtp:96 useinbandfec=1\n";
  assert.equal(
    withDtx(sdp),
    "a=rtpmap:96 OPUS/48000/2\na=fmtp:96 useinbandfec=1;usedtx=1\n",
  );
});

/**
 * The fake microphones of the call lab, made with sox and espeak-ng: a
 * sentence of synthetic speech (looped by Chromium's fake capture) and a
 * click train for mouth-to-ear latency (a 10 ms Hann-windowed 2 kHz burst
 * every 500 ms).
 *
 * @module
 */
import { join } from "node:path";

/** The sentence the speech microphone says (about 11 s). */
export const SENTENCE =
  "The quick brown fox jumps over the lazy dog. Parley carries voice between people in a room. Please call Stella and ask her to bring these things with her from the store.";

/** Milliseconds between two clicks of the click train. */
export const CLICK_PERIOD_MS = 500;

async function run(command: string, args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `${command} failed: ${new TextDecoder().decode(stderr).trim()}`,
    );
  }
}

/** Writes the speech WAV (48 kHz mono 16-bit) into `dir`. */
export async function makeSpeech(dir: string): Promise<string> {
  const raw = join(dir, "speech-22k.wav");
  const out = join(dir, "speech.wav");
  await run("espeak-ng", ["-s", "150", "-w", raw, SENTENCE]);
  // Half a second of silence at the end marks the loop's seam.
  await run("sox", [
    raw,
    "-r",
    "48000",
    "-c",
    "1",
    "-b",
    "16",
    out,
    "pad",
    "0",
    "0.5",
    "gain",
    "-n",
    "-3",
  ]);
  return out;
}

/** Writes the 4 s click train WAV into `dir`. */
export async function makeClickTrain(dir: string): Promise<string> {
  const out = join(dir, "clicks.wav");
  const gapSec = (CLICK_PERIOD_MS - 10) / 1000;
  await run("sox", [
    "-n",
    "-r",
    "48000",
    "-c",
    "1",
    "-b",
    "16",
    out,
    "synth",
    "0.01",
    "sine",
    "2000",
    "fade",
    "h",
    "0.003",
    "0.01",
    "0.003",
    "pad",
    "0",
    String(gapSec),
    "repeat",
    String(4000 / CLICK_PERIOD_MS - 1),
    "gain",
    "-3",
  ]);
  return out;
}

/** A 16-bit mono PCM WAV's samples (the `data` chunk). */
export function readWav(bytes: Uint8Array): { x: Float64Array; rate: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rate = view.getUint32(24, true);
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = new TextDecoder().decode(bytes.subarray(offset, offset + 4));
    let size = view.getUint32(offset + 4, true);
    if (id === "data") {
      // espeak-ng streams its WAV and may leave the size at its maximum.
      size = Math.min(size, bytes.length - offset - 8);
      const x = new Float64Array(Math.floor(size / 2));
      for (let i = 0; i < x.length; i++) {
        x[i] = view.getInt16(offset + 8 + 2 * i, true) / 32768;
      }
      return { x, rate };
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error("no data chunk");
}

/** A 16-bit mono PCM WAV of `samples` (−1…1) at `rate`. */
export function writeWav(samples: ArrayLike<number>, rate: number): Uint8Array {
  const bytes = new Uint8Array(44 + 2 * samples.length);
  const view = new DataView(bytes.buffer);
  const text = (offset: number, s: string) =>
    bytes.set(new TextEncoder().encode(s), offset);
  text(0, "RIFF");
  view.setUint32(4, 36 + 2 * samples.length, true);
  text(8, "WAVEfmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, 2 * samples.length, true);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + 2 * i, Math.round(v * 32767), true);
  }
  return bytes;
}

/**
 * Writes `quiet-talk.wav` into `dir`: the speech WAV then 20 s of a quiet
 * room (white noise at −60 dBFS): someone who speaks about a third of the
 * time, as in a small meeting, for what DTX saves.
 */
export async function makeQuietTalk(
  dir: string,
  speech: string,
): Promise<string> {
  const room = join(dir, "quiet-room.wav");
  const out = join(dir, "quiet-talk.wav");
  await run("sox", [
    "-n",
    "-r",
    "48000",
    "-c",
    "1",
    "-b",
    "16",
    room,
    "synth",
    String(QUIET_ROOM_SEC),
    "whitenoise",
    "gain",
    "-60",
  ]);
  await run("sox", [speech, room, out]);
  return out;
}

/** Seconds of quiet room after each sentence of `makeQuietTalk`. */
export const QUIET_ROOM_SEC = 20;

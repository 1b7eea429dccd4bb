/**
 * STOI checked on real synthetic speech (espeak-ng) with known damage:
 * white noise at set SNRs and 20 ms frames dropped at set rates. The score
 * must be ~1 for the clean signal, fall as the SNR falls and as more frames
 * are lost, and be low for speech that was not sent; the alignment must find
 * a known offset in a looped reference.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readWav } from "./signals.ts";
import { bestLag, fft, receivedStoi, resample, stoi10k } from "./stoi.ts";

function onPath(command: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${command}`).isFile;
    } catch {
      return false;
    }
  });
}

/** espeak-ng speech as samples, with its rate (22050 Hz). */
async function speak(text: string): Promise<{ x: Float64Array; rate: number }> {
  const dir = await Deno.makeTempDir({ prefix: "parley-stoi-" });
  try {
    const path = join(dir, "s.wav");
    const { code } = await new Deno.Command("espeak-ng", {
      args: ["-s", "150", "-w", path, text],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.equal(code, 0);
    return readWav(await Deno.readFile(path));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A seeded generator (mulberry32), so the damage is the same every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(next: () => number): number {
  return Math.sqrt(-2 * Math.log(next() + 1e-12)) *
    Math.cos(2 * Math.PI * next());
}

function withNoise(x: Float64Array, snrDb: number, seed = 1): Float64Array {
  const next = random(seed);
  let power = 0;
  for (const v of x) power += v * v;
  power /= x.length;
  const sigma = Math.sqrt(power / 10 ** (snrDb / 10));
  return x.map((v) => v + sigma * gaussian(next));
}

/** Zeroes 20 ms frames with probability `p` (what loss without PLC does). */
function dropFrames(x: Float64Array, rate: number, p: number): Float64Array {
  const next = random(7);
  const frame = Math.round(rate * 0.02);
  const out = Float64Array.from(x);
  for (let start = 0; start < x.length; start += frame) {
    if (next() < p) out.fill(0, start, start + frame);
  }
  return out;
}

const ignore = !onPath("espeak-ng") && Deno.env.get("CI") !== "true";
const SENTENCE =
  "The quick brown fox jumps over the lazy dog. Please call Stella and ask her to bring these things with her from the store.";

Deno.test("fft() matches a direct DFT", () => {
  const n = 16;
  const next = random(3);
  const x = Array.from({ length: n }, () => next() - 0.5);
  const re = Float64Array.from(x), im = new Float64Array(n);
  fft(re, im);
  for (let k = 0; k < n; k++) {
    let r = 0, i = 0;
    for (let t = 0; t < n; t++) {
      r += x[t] * Math.cos(-2 * Math.PI * k * t / n);
      i += x[t] * Math.sin(-2 * Math.PI * k * t / n);
    }
    assert.ok(Math.abs(re[k] - r) < 1e-9 && Math.abs(im[k] - i) < 1e-9);
  }
});

Deno.test("resample() keeps a tone's frequency and level", () => {
  const tone = Float64Array.from(
    { length: 48_000 },
    (_, i) => Math.sin(2 * Math.PI * 1000 * i / 48_000),
  );
  const out = resample(tone, 48_000, 10_000);
  assert.equal(out.length, 10_000);
  for (let i = 100; i < 9_900; i += 37) {
    const expected = Math.sin(2 * Math.PI * 1000 * i / 10_000);
    assert.ok(Math.abs(out[i] - expected) < 0.02, `sample ${i}`);
  }
});

Deno.test({
  name: "stoi10k() is ~1 for clean speech and falls as the SNR falls",
  ignore,
  async fn() {
    const { x, rate } = await speak(SENTENCE);
    const clean = resample(x, rate, 10_000);
    assert.ok(stoi10k(clean, clean) > 0.999);
    const scores = [20, 5, 0, -5].map((snr) =>
      stoi10k(clean, withNoise(clean, snr))
    );
    console.log(
      `  STOI at 20/5/0/-5 dB SNR: ${scores.map((s) => s.toFixed(3))}`,
    );
    for (let i = 1; i < scores.length; i++) {
      assert.ok(scores[i] < scores[i - 1], `not falling: ${scores}`);
    }
    // Published curves for white noise: ~0.95+ at 20 dB, ~0.6–0.75 at −5 dB.
    assert.ok(scores[0] > 0.9, `20 dB: ${scores[0]}`);
    assert.ok(scores[3] > 0.4 && scores[3] < 0.85, `-5 dB: ${scores[3]}`);
  },
});

Deno.test({
  name: "stoi10k() falls as more 20 ms frames are dropped",
  ignore,
  async fn() {
    const { x, rate } = await speak(SENTENCE);
    const clean = resample(x, rate, 10_000);
    const scores = [0.05, 0.2, 0.5].map((p) =>
      stoi10k(clean, dropFrames(clean, 10_000, p))
    );
    console.log(
      `  STOI with 5/20/50% frames dropped: ${scores.map((s) => s.toFixed(3))}`,
    );
    for (let i = 1; i < scores.length; i++) {
      assert.ok(scores[i] < scores[i - 1], `not falling: ${scores}`);
    }
    assert.ok(scores[0] > 0.85 && scores[2] < 0.75, `${scores}`);
  },
});

Deno.test({
  name:
    "receivedStoi() aligns a delayed 48 kHz recording of looped speech and scores speech that was not sent low",
  ignore,
  async fn() {
    const { x, rate } = await speak(SENTENCE);
    const ref = new Float64Array(x.length + Math.round(rate * 0.5));
    ref.set(x);
    // The recording starts 1.234 s into the loop, at 48 kHz, for 9 s.
    const ref48 = resample(ref, rate, 48_000);
    const start = Math.round(1.234 * 48_000);
    const recording = Float64Array.from(
      { length: 9 * 48_000 },
      (_, i) => 0.5 * ref48[(start + i) % ref48.length],
    );
    const aligned = receivedStoi(ref, rate, recording, 48_000);
    assert.ok(aligned > 0.95, `aligned: ${aligned}`);
    const noisy = receivedStoi(ref, rate, withNoise(recording, 0), 48_000);
    assert.ok(noisy < aligned, `noise did not lower it: ${noisy}`);
    const other = await speak(
      "Nine hundred ninety nine bottles were standing on a shelf in the kitchen yesterday.",
    );
    const wrong = receivedStoi(
      ref,
      rate,
      resample(other.x, other.rate, 48_000),
      48_000,
    );
    console.log(
      `  aligned ${aligned.toFixed(3)}, 0 dB ${
        noisy.toFixed(3)
      }, other speech ${wrong.toFixed(3)}`,
    );
    assert.ok(wrong < 0.5, `other speech: ${wrong}`);
  },
});

Deno.test("bestLag() finds a known circular offset", () => {
  const next = random(5);
  const ref = Float64Array.from({ length: 5_000 }, () => next() - 0.5);
  const x = Float64Array.from(
    { length: 1_000 },
    (_, i) => ref[(4_321 + i) % 5_000],
  );
  assert.equal(bestLag(x, ref), 4_321);
  assert.equal(bestLag(x, ref, 4_000, 4_500), 4_321);
});

import assert from "node:assert/strict";
import {
  activePower,
  addNoise,
  pinkNoise,
  power,
  speechToFloorDb,
} from "./noise.ts";

const RATE = 48_000;

/** A 300 Hz "word" for 0.5 s, then 0.5 s of silence, repeated. */
function bursts(seconds: number): Float64Array {
  const x = new Float64Array(seconds * RATE);
  for (let i = 0; i < x.length; i++) {
    const on = Math.floor(i / (RATE / 2)) % 2 === 0;
    x[i] = on ? 0.1 * Math.sin(2 * Math.PI * 300 * i / RATE) : 0;
  }
  return x;
}

/**
 * Mean power of `x` at a few frequencies of a band (Hann-windowed DFT
 * bins, averaged over consecutive 8192-sample windows).
 */
function binPower(x: Float64Array, from: number, to: number): number {
  const n = 8192;
  let total = 0, count = 0;
  for (let start = 0; start + n <= x.length; start += n) {
    for (let hz = from; hz < to; hz += (to - from) / 8) {
      let re = 0, im = 0;
      for (let i = 0; i < n; i++) {
        const w = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / n);
        const v = w * x[start + i];
        re += v * Math.cos(2 * Math.PI * hz * i / RATE);
        im -= v * Math.sin(2 * Math.PI * hz * i / RATE);
      }
      total += re * re + im * im;
      count++;
    }
  }
  return total / count;
}

Deno.test("pinkNoise() is seeded and falls about 3 dB per octave", () => {
  assert.deepEqual(pinkNoise(64, 7), pinkNoise(64, 7));
  assert.notDeepEqual(pinkNoise(64, 7), pinkNoise(64, 8));
  const x = pinkNoise(8 * 8192, 3);
  // Four octaves up: about 12 dB less per hertz (white noise: 0 dB).
  const low = binPower(x, 250, 500);
  const high = binPower(x, 4000, 8000);
  const drop = 10 * Math.log10(low / high);
  assert.ok(drop > 8 && drop < 16, `drop ${drop.toFixed(1)} dB`);
});

Deno.test("addNoise() adds noise at the asked SNR of active speech", () => {
  const speech = bursts(4);
  for (const snr of [0, 5, 20]) {
    const noisy = addNoise(speech, RATE, snr);
    const noise = noisy.map((v, i) => v - speech[i]);
    const measured = 10 *
      Math.log10(activePower(speech, RATE) / power(noise));
    assert.ok(Math.abs(measured - snr) < 0.01, `${snr}: ${measured}`);
  }
});

Deno.test("speechToFloorDb() rises when the gaps between words go quiet", () => {
  const speech = bursts(4);
  const noisy = addNoise(speech, RATE, 5);
  const atFive = speechToFloorDb(noisy, RATE);
  // The words are 5 dB over the noise, plus the noise under them.
  assert.ok(atFive > 4 && atFive < 9, `5 dB SNR: ${atFive}`);
  const gated = noisy.map((v, i) => speech[i] === 0 ? v * 0.01 : v);
  const cleaned = speechToFloorDb(gated, RATE);
  assert.ok(cleaned > atFive + 30, `gated: ${cleaned}`);
  assert.equal(speechToFloorDb(speech, RATE), 80);
  assert.ok(Number.isNaN(speechToFloorDb(new Float64Array(RATE), RATE)));
});

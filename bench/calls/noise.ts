/**
 * Noisy speech for the noise filter's measurement, and the one figure that
 * needs no alignment: how far speech stands above the floor between words.
 * Pink noise is the usual stand-in for a fan or traffic (equal energy per
 * octave); it is seeded, so every run hears the same noise.
 *
 * @module
 */

/** A seeded PRNG (mulberry32) giving uniform numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` samples of pink noise (Paul Kellet's economy filter over seeded white
 * noise: −3 dB per octave within ±0.5 dB above ~10 Hz at 48 kHz), unscaled.
 */
export function pinkNoise(n: number, seed: number): Float64Array {
  const random = mulberry32(seed);
  const out = new Float64Array(n);
  let b0 = 0, b1 = 0, b2 = 0;
  for (let i = 0; i < n; i++) {
    const white = random() * 2 - 1;
    b0 = 0.99765 * b0 + white * 0.099046;
    b1 = 0.963 * b1 + white * 0.2965164;
    b2 = 0.57 * b2 + white * 1.0526913;
    out[i] = b0 + b1 + b2 + white * 0.1848;
  }
  return out;
}

/** Mean power of `x`. */
export function power(x: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i] * x[i];
  return x.length ? sum / x.length : 0;
}

/**
 * The power of speech while it is active: the mean over 20 ms frames
 * within 40 dB of the loudest (so pauses do not dilute it, roughly as
 * ITU-T P.56's active speech level does).
 */
export function activePower(x: ArrayLike<number>, rate: number): number {
  const frames = framePowers(x, rate);
  const loudest = Math.max(0, ...frames);
  const active = frames.filter((p) => p > loudest * 1e-4);
  return active.length ? active.reduce((a, b) => a + b) / active.length : 0;
}

/** Power of each whole 20 ms frame of `x`. */
export function framePowers(x: ArrayLike<number>, rate: number): number[] {
  const size = Math.round(rate * 0.02);
  const out: number[] = [];
  for (let start = 0; start + size <= x.length; start += size) {
    let sum = 0;
    for (let i = start; i < start + size; i++) sum += x[i] * x[i];
    out.push(sum / size);
  }
  return out;
}

/**
 * `speech` with pink noise added at `snrDb` below its active speech level,
 * scaled down together if the sum would clip.
 */
export function addNoise(
  speech: ArrayLike<number>,
  rate: number,
  snrDb: number,
  seed = 5,
): Float64Array {
  const noise = pinkNoise(speech.length, seed);
  const gain = Math.sqrt(
    activePower(speech, rate) / power(noise) / 10 ** (snrDb / 10),
  );
  const out = new Float64Array(speech.length);
  let peak = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = speech[i] + gain * noise[i];
    peak = Math.max(peak, Math.abs(out[i]));
  }
  if (peak > 0.99) {
    for (let i = 0; i < out.length; i++) {
      out[i] *= 0.99 / peak;
    }
  }
  return out;
}

/**
 * Speech over floor (dB): the 95th percentile of 20 ms frame power over
 * the 10th. Speech with steady noise between words scores about the SNR
 * plus the speech's own dynamics; a filter that silences the gaps raises
 * it. Needs no alignment with what was sent, so a recording that lost
 * blocks still scores. Capped at 80 dB (digital silence between words).
 */
export function speechToFloorDb(x: ArrayLike<number>, rate: number): number {
  const frames = framePowers(x, rate).sort((a, b) => a - b);
  if (frames.length === 0) return NaN;
  const at = (q: number) =>
    frames[Math.min(frames.length - 1, Math.floor(q * frames.length))];
  const top = at(0.95);
  if (top === 0) return NaN;
  return Math.min(80, 10 * Math.log10(top / Math.max(at(0.1), top * 1e-8)));
}

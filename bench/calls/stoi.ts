/**
 * Speech intelligibility of a received recording against the speech that
 * was sent: STOI, the short-time objective intelligibility measure of Taal,
 * Hendriks, Heusdens and Jensen (IEEE TASLP 19(7), 2011), written after the
 * reference implementation's constants (10 kHz, 256-sample Hann frames with
 * 50% overlap, a 512-point FFT, 15 one-third octave bands from 150 Hz,
 * 384 ms segments, clipping at −15 dB SDR, silent frames 40 dB under the
 * loudest removed), plus the alignment a network path needs: resampling to
 * 10 kHz and cross-correlation against the looped reference, one second at
 * a time (the jitter buffer stretches time and a busy audio thread drops
 * blocks, so one global lag drifts).
 *
 * STOI is 1 for identical signals and falls towards 0 as the envelope of
 * each band stops following the clean one; it tracks listening tests for
 * additive noise and for the time-frequency gaps that concealment leaves.
 * `stoi_test.ts` checks it on espeak-ng speech with known noise and known
 * dropped frames. Pure; no dependencies.
 *
 * @module
 */

const FS = 10_000;
const FRAME = 256;
const HOP = 128;
const NFFT = 512;
const BANDS = 15;
const MIN_FREQ = 150;
const SEGMENT = 30;
const BETA_DB = -15;
const DYN_RANGE_DB = 40;
const EPS = 1e-12;

/** In-place radix-2 FFT of `re`/`im` (length a power of two). */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = -2 * Math.PI / len;
    const wr = Math.cos(angle), wi = Math.sin(angle);
    for (let i = 0; i < n; i += len) {
      let cr = 1, ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k, b = a + len / 2;
        const xr = re[b] * cr - im[b] * ci;
        const xi = re[b] * ci + im[b] * cr;
        re[b] = re[a] - xr;
        im[b] = im[a] - xi;
        re[a] += xr;
        im[a] += xi;
        const t = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = t;
      }
    }
  }
}

/**
 * Resamples `x` from `from` Hz to `to` Hz with a Hann-windowed sinc
 * (cutoff at 0.45 of the lower rate, 32 taps each side).
 */
export function resample(
  x: ArrayLike<number>,
  from: number,
  to: number,
): Float64Array {
  if (from === to) return Float64Array.from(x);
  const ratio = to / from;
  const cutoff = 0.9 * Math.min(1, ratio) / 2; // of the input rate
  const taps = 32;
  const scale = taps / Math.min(1, ratio);
  // The kernel, tabulated at 1/STEPS of an input sample (it is symmetric).
  const STEPS = 512;
  const table = new Float64Array(Math.ceil(scale * STEPS) + 2);
  for (let k = 0; k < table.length; k++) {
    const t = k / STEPS;
    const arg = 2 * cutoff * t;
    const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
    const w = t >= scale ? 0 : 0.5 + 0.5 * Math.cos(Math.PI * t / scale);
    table[k] = 2 * cutoff * sinc * w;
  }
  const out = new Float64Array(Math.floor(x.length * ratio));
  for (let i = 0; i < out.length; i++) {
    const center = i / ratio;
    const lo = Math.max(0, Math.ceil(center - scale));
    const hi = Math.min(x.length - 1, Math.floor(center + scale));
    let sum = 0;
    for (let j = lo; j <= hi; j++) {
      sum += x[j] * table[Math.round(Math.abs(j - center) * STEPS)];
    }
    out[i] = sum;
  }
  return out;
}

function hann(n: number): Float64Array {
  // The reference's np.hanning(n + 2)[1:-1]: no zero at either end.
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    w[i] = 0.5 - 0.5 * Math.cos(2 * Math.PI * (i + 1) / (n + 1));
  }
  return w;
}

const WINDOW = hann(FRAME);

/** Drops frames of both signals where `x` is 40 dB under its loudest. */
export function removeSilentFrames(
  x: Float64Array,
  y: Float64Array,
): [Float64Array, Float64Array] {
  const frames: number[] = [];
  const energies: number[] = [];
  for (let start = 0; start + FRAME <= x.length; start += HOP) {
    let e = 0;
    for (let i = 0; i < FRAME; i++) e += (x[start + i] * WINDOW[i]) ** 2;
    frames.push(start);
    energies.push(20 * Math.log10(Math.sqrt(e) + EPS));
  }
  const max = Math.max(...energies);
  const kept = frames.filter((_, i) => energies[i] > max - DYN_RANGE_DB);
  const length = kept.length > 0 ? (kept.length - 1) * HOP + FRAME : 0;
  const outX = new Float64Array(length);
  const outY = new Float64Array(length);
  kept.forEach((start, k) => {
    for (let i = 0; i < FRAME; i++) {
      outX[k * HOP + i] += x[start + i] * WINDOW[i];
      outY[k * HOP + i] += y[start + i] * WINDOW[i];
    }
  });
  return [outX, outY];
}

/** FFT bin ranges [lo, hi) of the 15 one-third octave bands. */
function bandBins(): [number, number][] {
  const bins = NFFT / 2 + 1;
  const freqs = Array.from({ length: bins }, (_, i) => i * FS / NFFT);
  const nearest = (f: number) => {
    let best = 0;
    for (let i = 1; i < bins; i++) {
      if ((freqs[i] - f) ** 2 < (freqs[best] - f) ** 2) best = i;
    }
    return best;
  };
  return Array.from({ length: BANDS }, (_, k) => {
    const low = MIN_FREQ * 2 ** ((2 * k - 1) / 6);
    const high = MIN_FREQ * 2 ** ((2 * k + 1) / 6);
    return [nearest(low), nearest(high)] as [number, number];
  });
}

const BAND_BINS = bandBins();

/** One-third octave band envelopes: [band][frame]. */
function bandEnvelopes(x: Float64Array): Float64Array[] {
  const frames = Math.max(0, Math.floor((x.length - FRAME) / HOP) + 1);
  const out = BAND_BINS.map(() => new Float64Array(frames));
  const re = new Float64Array(NFFT), im = new Float64Array(NFFT);
  for (let f = 0; f < frames; f++) {
    re.fill(0);
    im.fill(0);
    for (let i = 0; i < FRAME; i++) re[i] = x[f * HOP + i] * WINDOW[i];
    fft(re, im);
    BAND_BINS.forEach(([lo, hi], band) => {
      let power = 0;
      for (let k = lo; k < hi; k++) power += re[k] ** 2 + im[k] ** 2;
      out[band][f] = Math.sqrt(power);
    });
  }
  return out;
}

/**
 * STOI of `degraded` against `clean`, both at 10 kHz and aligned (same
 * length is not required; the shorter one sets it). NaN when less than one
 * 384 ms segment of speech remains.
 */
export function stoi10k(clean: Float64Array, degraded: Float64Array): number {
  const n = Math.min(clean.length, degraded.length);
  const [x, y] = removeSilentFrames(
    clean.subarray(0, n),
    degraded.subarray(0, n),
  );
  const X = bandEnvelopes(x);
  const Y = bandEnvelopes(y);
  const frames = X[0]?.length ?? 0;
  if (frames < SEGMENT) return NaN;
  const clip = 1 + 10 ** (-BETA_DB / 20);
  let sum = 0;
  let count = 0;
  for (let m = SEGMENT; m <= frames; m++) {
    for (let band = 0; band < BANDS; band++) {
      const xs = X[band].subarray(m - SEGMENT, m);
      const ys = Y[band].subarray(m - SEGMENT, m);
      let nx = 0, ny = 0;
      for (let i = 0; i < SEGMENT; i++) {
        nx += xs[i] ** 2;
        ny += ys[i] ** 2;
      }
      const alpha = Math.sqrt(nx) / (Math.sqrt(ny) + EPS);
      const yp = new Float64Array(SEGMENT);
      let mx = 0, my = 0;
      for (let i = 0; i < SEGMENT; i++) {
        yp[i] = Math.min(ys[i] * alpha, xs[i] * clip);
        mx += xs[i];
        my += yp[i];
      }
      mx /= SEGMENT;
      my /= SEGMENT;
      let dot = 0, vx = 0, vy = 0;
      for (let i = 0; i < SEGMENT; i++) {
        const a = xs[i] - mx, b = yp[i] - my;
        dot += a * b;
        vx += a * a;
        vy += b * b;
      }
      sum += dot / (Math.sqrt(vx) * Math.sqrt(vy) + EPS);
      count++;
    }
  }
  return sum / count;
}

/**
 * The lag (samples) in `[lo, hi)` at which `reference` (read circularly)
 * best matches `x`: the peak of their normalized cross-correlation,
 * computed with FFTs.
 */
export function bestLag(
  x: Float64Array,
  reference: Float64Array,
  lo = 0,
  hi = reference.length,
): number {
  const span = hi - lo;
  const needed = x.length + span;
  let size = 1;
  while (size < needed) size <<= 1;
  // corr[L] = Σ x[t] · ref[(lo + L + t) mod P]
  const ar = new Float64Array(size), ai = new Float64Array(size);
  const br = new Float64Array(size), bi = new Float64Array(size);
  const p = reference.length;
  for (let t = 0; t < x.length; t++) ar[t] = x[t];
  for (let t = 0; t < needed && t < size; t++) {
    br[t] = reference[(((lo + t) % p) + p) % p];
  }
  fft(ar, ai);
  fft(br, bi);
  // B · conj(A), then the inverse FFT through the forward one.
  for (let k = 0; k < size; k++) {
    const r = br[k] * ar[k] + bi[k] * ai[k];
    const i = bi[k] * ar[k] - br[k] * ai[k];
    br[k] = r;
    bi[k] = -i;
  }
  fft(br, bi);
  let best = 0, bestValue = -Infinity;
  for (let lag = 0; lag < span; lag++) {
    if (br[lag] > bestValue) {
      bestValue = br[lag];
      best = lag;
    }
  }
  return lo + best;
}

/** Options for {@linkcode receivedStoi}. */
export interface ReceivedStoiOptions {
  /** Seconds per separately aligned chunk. @default 1 */
  chunkSec?: number;
}

/**
 * STOI of a recording of received audio against the looped speech that was
 * sent: both resampled to 10 kHz, then each chunk aligned on its own (the
 * first by a full search, the next within ±300 ms of where the previous
 * one ended) and
 * scored; the result is the mean over chunks.
 */
export function receivedStoi(
  reference: ArrayLike<number>,
  referenceRate: number,
  recording: ArrayLike<number>,
  recordingRate: number,
  options: ReceivedStoiOptions = {},
): number {
  const ref = resample(reference, referenceRate, FS);
  const rec = resample(recording, recordingRate, FS);
  const chunk = Math.round((options.chunkSec ?? 1) * FS);
  // A busy audio thread drops blocks and the jitter buffer stretches time:
  // each chunk is searched for within ±300 ms of where the last one ended.
  const search = 3_000;
  const scores: number[] = [];
  let previous: number | undefined;
  for (let start = 0; start + chunk <= rec.length; start += chunk) {
    const piece = rec.subarray(start, start + chunk);
    let energy = 0;
    for (const v of piece) energy += v * v;
    const silent = energy < 1e-6;
    // Nothing received: nothing to align with; it scores where it would be.
    if (silent && previous === undefined) continue;
    const lag = previous === undefined
      ? bestLag(piece, ref)
      : silent
      ? previous + chunk
      : bestLag(
        piece,
        ref,
        previous + chunk - search,
        previous + chunk + search,
      );
    previous = lag;
    const aligned = new Float64Array(chunk);
    for (let i = 0; i < chunk; i++) {
      aligned[i] = ref[(((lag + i) % ref.length) + ref.length) % ref.length];
    }
    const score = stoi10k(aligned, piece);
    if (Number.isFinite(score)) scores.push(score);
  }
  return scores.length
    ? scores.reduce((a, b) => a + b, 0) / scores.length
    : NaN;
}

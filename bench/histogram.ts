/**
 * A latency histogram with logarithmic buckets (0.5% wide), cheap to record
 * into on the hot path of the load generator and cheap to merge across
 * processes: it travels as a sparse list of `[bucket, count]`.
 *
 * @module
 */

/** Buckets per unit of ln(1 + µs): 200 makes each about 0.5% wide. */
const SCALE = 200;

/** A histogram as it crosses a process boundary. */
export interface HistogramJson {
  count: number;
  maxMs: number;
  buckets: [number, number][];
}

/** Latencies in milliseconds, kept to about 0.5%. */
export class Histogram {
  #counts: number[] = [];
  count = 0;
  maxMs = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const i = Math.round(Math.log1p(Math.max(0, ms) * 1000) * SCALE);
    this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    this.count++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** Adds another histogram's counts to this one. */
  merge(other: Histogram | HistogramJson): void {
    const json = other instanceof Histogram ? other.toJSON() : other;
    for (const [i, n] of json.buckets) {
      this.#counts[i] = (this.#counts[i] ?? 0) + n;
    }
    this.count += json.count;
    if (json.maxMs > this.maxMs) this.maxMs = json.maxMs;
  }

  /** The latency at quantile `q` (0–1) in milliseconds; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i] ?? 0;
      if (seen >= rank) return Math.expm1(i / SCALE) / 1000;
    }
    return this.maxMs;
  }

  /** The sparse form for JSON. */
  toJSON(): HistogramJson {
    const buckets: [number, number][] = [];
    this.#counts.forEach((n, i) => {
      if (n) buckets.push([i, n]);
    });
    return { count: this.count, maxMs: this.maxMs, buckets };
  }

  /** Rebuilds a histogram from {@linkcode Histogram.toJSON}. */
  static from(json: HistogramJson): Histogram {
    const h = new Histogram();
    h.merge(json);
    return h;
  }
}

/**
 * Counters, gauges and histograms in the Prometheus text exposition format
 * (version 0.0.4), with no dependency. Each instance owns one
 * {@linkcode Metrics}; nothing is global, so two servers in one test process
 * keep their own numbers.
 *
 * @module
 */

/** A histogram with fixed upper bounds, in seconds. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(boundsSec: readonly number[]) {
    this.#bounds = boundsSec;
    this.#counts = boundsSec.map(() => 0);
  }

  /** Records one observation of `seconds`. */
  observe(seconds: number): void {
    this.#sum += seconds;
    this.#count++;
    for (let i = 0; i < this.#bounds.length; i++) {
      if (seconds <= this.#bounds[i]) {
        this.#counts[i]++;
        return;
      }
    }
  }

  /** Lines for `name`, cumulative as the format asks. */
  render(name: string): string[] {
    const lines: string[] = [];
    let cumulative = 0;
    this.#bounds.forEach((bound, i) => {
      cumulative += this.#counts[i];
      lines.push(`${name}_bucket{le="${bound}"} ${cumulative}`);
    });
    lines.push(`${name}_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`${name}_sum ${this.#sum}`);
    lines.push(`${name}_count ${this.#count}`);
    return lines;
  }
}

/** Counts by a label value (an error code, a close code, a status). */
export class LabeledCounter {
  readonly #values = new Map<string, number>();

  /** Adds one for `label`. */
  inc(label: string | number): void {
    const key = String(label);
    this.#values.set(key, (this.#values.get(key) ?? 0) + 1);
  }

  /** The count for `label`. */
  get(label: string | number): number {
    return this.#values.get(String(label)) ?? 0;
  }

  /** Lines for `name` with the label called `labelName`. */
  render(name: string, labelName: string): string[] {
    return [...this.#values].map(([label, value]) =>
      `${name}{${labelName}="${escapeLabel(label)}"} ${value}`
    );
  }
}

/** Seconds: 100 µs to 2.5 s, for join and relay latency. */
export const LATENCY_BOUNDS_SEC = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
] as const;

/**
 * The metrics of one instance that are not read off the hub on demand.
 * Counters move only through the `count…` and `observe…` methods.
 */
export class Metrics {
  /** Errors sent to clients, by error code. */
  readonly errors = new LabeledCounter();
  /** Sockets the server closed, by close code. */
  readonly closes = new LabeledCounter();
  #joins = 0;
  #resumes = 0;
  #relayed = 0;
  #errorsTotal = 0;
  /** `/ws` handshakes refused before the upgrade, by HTTP status. */
  readonly refusals = new LabeledCounter();
  /** From a `join` arriving to its `joined` going out. */
  readonly joinLatency = new Histogram(LATENCY_BOUNDS_SEC);
  /** Handling time of a relayed signal (sampled one in 16). */
  readonly relayLatency = new Histogram(LATENCY_BOUNDS_SEC);
  #eventLoopLagSec = 0;
  #eventLoopLagMaxSec = 0;

  /** The latest event-loop lag, in seconds. */
  get eventLoopLagSec(): number {
    return this.#eventLoopLagSec;
  }
  /** The largest event-loop lag seen, in seconds. */
  get eventLoopLagMaxSec(): number {
    return this.#eventLoopLagMaxSec;
  }

  /** New peers joined. */
  get joins(): number {
    return this.#joins;
  }
  /** Sessions resumed. */
  get resumes(): number {
    return this.#resumes;
  }
  /** Signals relayed. */
  get relayed(): number {
    return this.#relayed;
  }
  /** Errors sent to clients, all codes. */
  get errorsTotal(): number {
    return this.#errorsTotal;
  }

  /** Counts a new peer. */
  countJoin(): void {
    this.#joins++;
  }
  /** Counts a resumed session. */
  countResume(): void {
    this.#resumes++;
  }
  /** Counts a relayed signal. */
  countRelay(): void {
    this.#relayed++;
  }
  /** Counts an error sent to a client. */
  countError(code: string): void {
    this.#errorsTotal++;
    this.errors.inc(code);
  }
  /** Counts a socket the server closed. */
  countClose(code: number): void {
    this.closes.inc(code);
  }
  /** Records how long a join took, in seconds. */
  observeJoin(seconds: number): void {
    this.joinLatency.observe(seconds);
  }
  /** Records the event loop's latest lag, in seconds. */
  observeEventLoopLag(seconds: number): void {
    this.#eventLoopLagSec = seconds;
    this.#eventLoopLagMaxSec = Math.max(this.#eventLoopLagMaxSec, seconds);
  }
  /** Counts a `/ws` handshake refused before the upgrade. */
  countRefusal(status: number): void {
    this.refusals.inc(status);
  }
  /** Records how long a relay took, in seconds. */
  observeRelay(seconds: number): void {
    this.relayLatency.observe(seconds);
  }
}

/** One metric family to render. */
export interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  lines: string[];
}

/** Renders families in the Prometheus text format. */
export function renderFamilies(families: readonly Family[]): string {
  const out: string[] = [];
  for (const family of families) {
    out.push(`# HELP ${family.name} ${family.help}`);
    out.push(`# TYPE ${family.name} ${family.type}`);
    out.push(...family.lines);
  }
  return out.join("\n") + "\n";
}

/** A family with one unlabelled sample. */
export function single(
  name: string,
  type: "counter" | "gauge",
  help: string,
  value: number,
): Family {
  return { name, help, type, lines: [`${name} ${value}`] };
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll(
    "\n",
    "\\n",
  );
}

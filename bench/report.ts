/**
 * Turns the results of a run into the Markdown tables `run.ts` prints and
 * `docs/benchmarks.md` quotes: Parley beside the bare relay, with the ratio
 * and the target for each figure.
 *
 * @module
 */
import type {
  ConnectionsResult,
  CoreUse,
  CrossResult,
  CrossSetup,
  JoinResult,
  RampResult,
  RelayResult,
} from "./scenarios.ts";
import { faultCount } from "./generators.ts";
import { NOISY_REST_CORES } from "./scenarios.ts";

/** Both servers' result of one scenario. */
export interface Pairwise<T> {
  parley: T;
  bare: T;
}

/** Everything a run measured; absent scenarios were not run. */
export interface BenchResults {
  machine: {
    date: string;
    nproc: number;
    cpuModel: string;
    deno: string;
    pinned: boolean;
  };
  averageFrameBytes: number;
  connections?: Pairwise<ConnectionsResult>;
  join?: Pairwise<JoinResult>;
  latency?: Pairwise<RelayResult>;
  cpu?: Pairwise<RelayResult>;
  ramp?: Pairwise<RampResult>;
  /** The cross-instance scenario, by setup. */
  cross?: Record<CrossSetup, CrossResult>;
}

const ms = (v: number) => `${v < 1 ? v.toFixed(3) : v.toFixed(2)} ms`;
const us = (v: number) => `${v.toFixed(1)} µs`;
const kib = (v: number) => `${v.toFixed(1)} KiB`;
const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
const rate = (v: number) => `${Math.round(v).toLocaleString("en-US")}/s`;
const ratio = (a: number, b: number) => b > 0 ? `${(a / b).toFixed(2)}×` : "–";
const mark = (met: boolean) => met ? "met" : "**missed**";

function coresText(c: CoreUse): string {
  return `${pct(c.server)} / ${pct(c.generator)} / ${pct(c.rest)}` +
    (c.rest > NOISY_REST_CORES ? " (noisy)" : "");
}

/** The summary table: one row per target. */
export function summaryTable(r: BenchResults): string {
  const rows: string[][] = [];
  if (r.cpu) {
    const p = r.cpu.parley.serverCpuPerMsgUs;
    const b = r.cpu.bare.serverCpuPerMsgUs;
    rows.push([
      `Server CPU per relayed message (${rate(r.cpu.parley.rate)})`,
      us(p),
      us(b),
      ratio(p, b),
      "≤ 1.2× bare",
      mark(p <= 1.2 * b),
    ]);
  }
  if (r.connections) {
    const p = r.connections.parley;
    const b = r.connections.bare;
    rows.push([
      `Idle memory per connection (${
        p.idleConnections.toLocaleString("en-US")
      } joined)`,
      kib(p.memPerConnKiB),
      kib(b.memPerConnKiB),
      ratio(p.memPerConnKiB, b.memPerConnKiB),
      "≤ 1.15× bare",
      mark(p.memPerConnKiB <= 1.15 * b.memPerConnKiB),
    ]);
    rows.push([
      "Server CPU per connect + join",
      us(p.setupCpuUs),
      us(b.setupCpuUs),
      ratio(p.setupCpuUs, b.setupCpuUs),
      "–",
      "–",
    ]);
  }
  if (r.latency) {
    const p = r.latency.parley.latency;
    const b = r.latency.bare.latency;
    rows.push([
      `Relay latency p50 / p99 at ${rate(r.latency.parley.rate)}`,
      `${ms(p.p50)} / ${ms(p.p99)}`,
      `${ms(b.p50)} / ${ms(b.p99)}`,
      ratio(p.p99, b.p99),
      "p99 ≤ 1 ms",
      mark(p.p99 <= 1),
    ]);
  }
  if (r.join) {
    const p = r.join.parley.latency;
    const b = r.join.bare.latency;
    rows.push([
      `Connect + join latency p50 / p99 at ${
        rate(r.join.parley.rate)
      } (SQLite)`,
      `${ms(p.p50)} / ${ms(p.p99)}`,
      `${ms(b.p50)} / ${ms(b.p99)}`,
      ratio(p.p99, b.p99),
      "p99 ≤ 5 ms",
      mark(p.p99 <= 5),
    ]);
  }
  if (r.ramp) {
    const p = r.ramp.parley;
    const b = r.ramp.bare;
    rows.push([
      "Highest relay rate with p99 ≤ 50 ms",
      rate(p.maxRate),
      rate(b.maxRate),
      ratio(p.maxRate, b.maxRate),
      "≥ 100,000/s",
      mark(p.maxRate >= 100_000),
    ]);
    rows.push([
      "Same, extrapolated to one full server core",
      rate(p.serverCoreRate),
      rate(b.serverCoreRate),
      ratio(p.serverCoreRate, b.serverCoreRate),
      "≥ 100,000/s",
      mark(p.serverCoreRate >= 100_000),
    ]);
  }
  if (r.connections) {
    const p = r.connections.parley;
    const b = r.connections.bare;
    const clean = (c: ConnectionsResult) =>
      c.peakConnections >= c.maxConnections && faultCount(c.faults) === 0 &&
      c.roundReceived === c.roundSent;
    const text = (c: ConnectionsResult) =>
      `${c.peakConnections.toLocaleString("en-US")}, ${
        faultCount(c.faults)
      } errors`;
    rows.push([
      `${p.maxConnections.toLocaleString("en-US")} concurrent connections`,
      text(p),
      text(b),
      "–",
      "no errors",
      mark(clean(p)),
    ]);
  }
  return table(
    ["Figure", "Parley", "Bare relay", "Ratio", "Target", ""],
    rows,
  );
}

/** The detail tables: CPU split and every ramp step. */
export function detailTables(r: BenchResults): string {
  const out: string[] = [];
  const rows: string[][] = [];
  const add = (name: string, p: CoreUse, b: CoreUse, extra: string) =>
    rows.push([name, coresText(p), coresText(b), extra]);
  if (r.connections) {
    const { parley: p, bare: b } = r.connections;
    add(
      "connect + join (as fast as possible)",
      p.setupCores,
      b.setupCores,
      `${rate(p.connectsPerSec)} vs ${rate(b.connectsPerSec)}; RSS ${
        (p.rssBeforeKiB / 1024).toFixed(0)
      }→${(p.rssIdleKiB / 1024).toFixed(0)}→${
        (p.rssPeakKiB / 1024).toFixed(0)
      } MiB vs ${(b.rssBeforeKiB / 1024).toFixed(0)}→${
        (b.rssIdleKiB / 1024).toFixed(0)
      }→${(b.rssPeakKiB / 1024).toFixed(0)} MiB`,
    );
  }
  if (r.join) {
    const { parley: p, bare: b } = r.join;
    add(
      `joins at ${rate(p.rate)}`,
      p.cores,
      b.cores,
      `server CPU per join ${us(p.serverCpuPerJoinUs)} vs ${
        us(b.serverCpuPerJoinUs)
      }`,
    );
  }
  if (r.latency) {
    const { parley: p, bare: b } = r.latency;
    add(
      `relay at ${rate(p.rate)}`,
      p.cores,
      b.cores,
      `max ${ms(p.latency.max)} vs ${ms(b.latency.max)}`,
    );
  }
  if (r.cpu) {
    const { parley: p, bare: b } = r.cpu;
    add(
      `relay at ${rate(p.rate)}`,
      p.cores,
      b.cores,
      `sent ${rate(p.achievedRate)} vs ${rate(b.achievedRate)}; p99 ${
        ms(p.latency.p99)
      } vs ${ms(b.latency.p99)}; kernel ${pct(p.serverSysShare)} vs ${
        pct(b.serverSysShare)
      } of server CPU`,
    );
  }
  if (rows.length) {
    out.push(
      "CPU used during each step, in cores (server / generator / rest of the machine):\n",
    );
    out.push(table(["Step", "Parley", "Bare relay", "Notes"], rows));
  }
  if (r.ramp) {
    for (const kind of ["parley", "bare"] as const) {
      const ramp = r.ramp[kind];
      out.push(
        `\nRamp, ${
          kind === "parley" ? "Parley" : "bare relay"
        } (stopped: ${ramp.stoppedBy}):\n`,
      );
      out.push(table(
        [
          "Target",
          "Sent",
          "p50",
          "p99",
          "Server",
          "Generator",
          "Rest",
          "CPU/msg",
        ],
        ramp.steps.map((s) => [
          rate(s.rate),
          rate(s.achievedRate),
          ms(s.latency.p50),
          ms(s.latency.p99),
          pct(s.cores.server),
          pct(s.cores.generator),
          pct(s.cores.rest) +
          (s.cores.rest > NOISY_REST_CORES ? " (noisy)" : ""),
          us(s.serverCpuPerMsgUs),
        ]),
      ));
    }
  }
  return out.join("\n");
}

const CROSS_LABELS: Record<CrossSetup, string> = {
  sqlite: "1 Parley, SQLite",
  "redis-1": "1 Parley, Redis (both peers on it)",
  "redis-2": "2 Parley + Redis (peers on different instances)",
};

/**
 * The cross-instance table: latency and CPU per message (summed over every
 * Parley process and Redis) for each setup, and whether every frame arrived
 * once, in order, from the right sender.
 */
export function crossTable(
  r: BenchResults,
  where: { serverCpu: number; generatorCpu: number },
): string {
  const cross = r.cross;
  if (!cross) return "";
  const base = cross.sqlite.cpu.serverCpuPerMsgUs;
  const rows = (Object.keys(CROSS_LABELS) as CrossSetup[]).map((setup) => {
    const { latency: l, cpu: c } = cross[setup];
    const parts = c.serverPartsPerMsgUs;
    const split = setup === "sqlite"
      ? "–"
      : `${us(parts.slice(0, -1).reduce((a, b) => a + b, 0))} / ${
        us(parts.at(-1) ?? 0)
      }`;
    const faults = faultCount(l.faults) + faultCount(c.faults);
    const frames = l.sent + c.sent;
    const clean = faults === 0 && l.received === l.sent &&
      c.received === c.sent;
    return [
      CROSS_LABELS[setup],
      `${ms(l.latency.p50)} / ${ms(l.latency.p99)}`,
      us(c.serverCpuPerMsgUs),
      split,
      ratio(c.serverCpuPerMsgUs, base),
      coresText(c.cores),
      `sent ${rate(c.achievedRate)}, p99 ${ms(c.latency.p99)}`,
      clean
        ? `all ${frames.toLocaleString("en-US")}`
        : `**${faults} faults** ${JSON.stringify({ ...l.faults })}`,
    ];
  });
  const { latency: l, cpu: c } = cross.sqlite;
  return `Cross-instance through Redis: every server process (Parley, and ` +
    `redis-server) on CPU ${where.serverCpu}, so two Parley instances and ` +
    `Redis share one core; generator on CPU ${where.generatorCpu}. CPU per ` +
    `message summed over them:\n\n` +
    table([
      "Setup",
      `Relay p50 / p99 at ${rate(l.rate)}`,
      `Server CPU/msg at ${rate(c.rate)}`,
      "Parley / Redis",
      "vs SQLite",
      "Cores (servers / gen. / rest)",
      `At ${rate(c.rate)}`,
      "Frames once, in order",
    ], rows);
}

/** A Markdown table. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (c ?? "").padEnd(widths[i])).join(" | ")} |`;
  return [
    line(head),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.map(line),
  ].join("\n");
}

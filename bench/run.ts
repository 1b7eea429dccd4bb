/**
 * `deno task bench`: Parley's load benchmark. Starts Parley (`main.ts`, with
 * a temporary SQLite file) and the bare Deno relay of `baseline_relay.ts` as
 * real processes on one core, drives them from load generator processes on
 * another, speaking Parley's protocol over loopback, and prints each figure
 * for both servers with their ratio, so the figures hold on a noisy machine.
 * Then it runs the `deno bench` micro-benchmarks of the hot functions.
 *
 * Scenarios (`BENCH_SCENARIOS`, comma-separated, default all):
 * - `connections`: RSS per idle joined connection at 15,000, server CPU per
 *   connect + join, then 19,000 concurrent connections relaying one message
 *   each with no errors;
 * - `join`: connect + join + `joined` latency at 500 joins/s;
 * - `latency`: relay latency at 2,000 msg/s;
 * - `cpu`: server CPU per relayed message at a fixed high rate;
 * - `ramp`: the highest rate with p99 ≤ 50 ms;
 * - `cross`: the latency and CPU steps' traffic through two Parley instances
 *   sharing rooms through one `redis-server` (the two peers of every pair on
 *   different instances), beside one Parley on Redis and one on SQLite;
 *   skipped, with a warning, when `redis-server` is not installed.
 *
 * Knobs: `BENCH_QUICK=1` (a tenth of the counts), `BENCH_SCALE` (multiplies
 * counts and durations), `BENCH_CONNECTIONS`, `BENCH_MAX_CONNECTIONS`,
 * `BENCH_JOIN_RATE`, `BENCH_LATENCY_RATE`, `BENCH_CPU_RATE`,
 * `BENCH_CROSS_LATENCY_RATE`, `BENCH_CROSS_CPU_RATE`, `BENCH_RAMP`
 * (rates), `BENCH_STEP_SEC`, `BENCH_PAIRS`, `BENCH_SERVER_CPU`,
 * `BENCH_GENERATOR_CPU`, `BENCH_ROUNDS` (rounds of the join, latency and
 * CPU steps; the quietest or the median is kept), `BENCH_RETRIES` (ramp
 * steps retried before the ramp stops), `BENCH_JSON` (write results to this file),
 * `BENCH_PROFILE=1` (V8 CPU profile of both servers in the `cpu` step),
 * `BENCH_MICRO=0` (skip the micro-benchmarks).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { averageFrameBytes } from "../testing/messages.ts";
import { cpuCount, cpuModel, readProcFiles } from "./procfs.ts";
import { summarizeProfiles } from "./profile.ts";
import {
  type BenchResults,
  crossTable,
  detailTables,
  type Pairwise,
  summaryTable,
} from "./report.ts";
import {
  type BenchConfig,
  connections,
  CROSS_SETUPS,
  crossInstance,
  type CrossResult,
  type CrossSetup,
  joinRate,
  ramp,
  relayCpu,
  relayLatency,
} from "./scenarios.ts";
import { type ServerKind, taskset } from "./servers.ts";
import { redisInstalled } from "./redis.ts";

/** Every scenario, in the order a run takes them. */
export const SCENARIOS = [
  "connections",
  "join",
  "latency",
  "cpu",
  "ramp",
  "cross",
] as const;

/** One scenario's name. */
export type Scenario = (typeof SCENARIOS)[number];

/** The micro-benchmark files `deno task bench` runs after the load test. */
export const MICRO_BENCHES = [
  "signaling/protocol_bench.ts",
  "signaling/hub_bench.ts",
  "storage/sqlite_store_bench.ts",
];

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Reads the run's configuration from environment variables. */
export function configFromEnv(
  env: Record<string, string | undefined>,
  tempDir: string,
): { config: BenchConfig; scenarios: Scenario[] } {
  const num = (name: string, fallback: number) => {
    const text = env[name];
    if (text === undefined || text === "") return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0) {
      throw new RangeError(`${name} must be a number, not "${text}"`);
    }
    return n;
  };
  const quick = ["1", "true", "yes"].includes(env.BENCH_QUICK ?? "");
  const scale = num("BENCH_SCALE", quick ? 0.1 : 1);
  const count = (n: number) => Math.max(10, Math.round(n * scale));
  const latencyRate = num("BENCH_LATENCY_RATE", 2000);
  const cpuRate = num("BENCH_CPU_RATE", 40_000);
  const joinRate = num("BENCH_JOIN_RATE", 500);
  const crossLatencyRate = num("BENCH_CROSS_LATENCY_RATE", latencyRate);
  const crossCpuRate = num("BENCH_CROSS_CPU_RATE", 10_000);
  const rampRates = (env.BENCH_RAMP ??
    "10000,20000,30000,40000,50000,60000,70000,80000,100000")
    .split(",").map((s) => Number(s.trim())).filter((n) => n > 0);
  const scenarios = (env.BENCH_SCENARIOS ?? SCENARIOS.join(","))
    .split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const s of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(s)) {
      throw new RangeError(
        `Unknown scenario "${s}" in BENCH_SCENARIOS; known: ${
          SCENARIOS.join(", ")
        }`,
      );
    }
  }
  return {
    scenarios: scenarios as Scenario[],
    config: {
      idleConnections: count(num("BENCH_CONNECTIONS", 15_000)),
      maxConnections: count(num("BENCH_MAX_CONNECTIONS", 19_000)),
      connectionsPerWorker: 5000,
      connectConcurrency: 64,
      joinRate,
      joinCount: count(joinRate * 4),
      latencyRate,
      latencyCount: count(latencyRate * 5),
      cpuRate,
      cpuCount: count(cpuRate * 5),
      crossLatencyRate,
      crossLatencyCount: count(crossLatencyRate * 5),
      crossCpuRate,
      crossCpuCount: count(crossCpuRate * 5),
      rampRates,
      rampStepSec: num("BENCH_STEP_SEC", 2.5) * (quick ? 0.4 : 1),
      rampP99LimitMs: 50,
      rampRetries: num("BENCH_RETRIES", 2),
      relayPairs: num("BENCH_PAIRS", 100),
      relayWorkers: 1,
      fullCheck: false,
      serverCpu: num("BENCH_SERVER_CPU", 0),
      generatorCpu: num("BENCH_GENERATOR_CPU", 1),
      tempDir,
      cpuProfDir: undefined,
      rounds: num("BENCH_ROUNDS", quick ? 1 : 3),
      settleMs: 2000,
      // Two seconds of the latency step; joins past 4,096 open sockets.
      warmupCount: Math.round(latencyRate * 2),
      joinWarmupCount: 4200,
      progress: (line) => console.error(line),
    },
  };
}

/**
 * Runs `scenarios` against both servers and returns the figures. Within a
 * scenario the two servers take turns, the order swapping from one
 * scenario to the next, so slow drift in the machine's load hits both.
 */
export async function runBench(
  config: BenchConfig,
  scenarios: readonly Scenario[],
  options: { profile?: boolean } = {},
): Promise<BenchResults> {
  const results: BenchResults = {
    machine: {
      date: new Date().toISOString().slice(0, 10),
      nproc: cpuCount(),
      cpuModel: cpuModel(),
      deno: Deno.version.deno,
      pinned: taskset() !== null,
    },
    averageFrameBytes: averageFrameBytes(),
  };
  let order: ServerKind[] = ["parley", "bare"];
  /**
   * Runs a scenario on both servers `rounds` times, the two taking turns and
   * the order swapping every round, and keeps for each server the round
   * with the median `key` (CPU figures), or the round in which the rest of
   * the machine was quietest (latency figures, which other people's load
   * moves most).
   */
  const both = async <T>(
    name: string,
    run: (kind: ServerKind, config: BenchConfig) => Promise<T>,
    options: {
      config?: BenchConfig;
      rounds?: number;
      key?: (r: T) => number;
      quietest?: (r: T) => number;
    } = {},
  ): Promise<Pairwise<T>> => {
    const rounds = options.rounds ?? 1;
    const all: Record<ServerKind, T[]> = { parley: [], bare: [] };
    for (let round = 0; round < rounds; round++) {
      config.progress(
        rounds > 1 ? `${name} (round ${round + 1} of ${rounds}):` : `${name}:`,
      );
      for (const kind of order) {
        all[kind].push(await run(kind, options.config ?? config));
      }
      order = [...order].reverse();
    }
    const median = (list: T[]) => {
      const { key, quietest } = options;
      if (quietest) {
        return [...list].sort((a, b) => quietest(a) - quietest(b))[0];
      }
      if (!key) return list[0];
      const sorted = [...list].sort((a, b) => key(a) - key(b));
      return sorted[(sorted.length - 1) >> 1];
    };
    return { parley: median(all.parley), bare: median(all.bare) };
  };
  const rounds = config.rounds;
  for (const scenario of scenarios) {
    switch (scenario) {
      case "connections":
        results.connections = await both("connections", connections);
        break;
      case "join":
        results.join = await both("join rate", joinRate, {
          rounds,
          quietest: (r) => r.cores.rest,
        });
        break;
      case "latency":
        results.latency = await both("relay latency", relayLatency, {
          rounds,
          quietest: (r) => r.cores.rest,
        });
        break;
      case "cpu": {
        const profDir = options.profile
          ? await Deno.makeTempDir({ dir: config.tempDir, prefix: "prof" })
          : undefined;
        results.cpu = await both("relay CPU", relayCpu, {
          config: { ...config, cpuProfDir: profDir },
          rounds: profDir ? 1 : rounds,
          key: (r) => r.serverCpuPerMsgUs,
        });
        if (profDir) {
          config.progress(await summarizeProfiles(profDir));
        }
        break;
      }
      case "ramp":
        results.ramp = await both("ramp", ramp);
        break;
      case "cross":
        if (!redisInstalled()) {
          config.progress("cross: skipped, redis-server is not installed");
          break;
        }
        results.cross = await crossRounds(config);
        break;
    }
  }
  return results;
}

/**
 * Runs the cross-instance scenario's three setups `config.rounds` times, in
 * an order that rotates every round, and keeps for each setup the latency
 * step of the round in which the rest of the machine was quietest and the
 * CPU step of the round with the median CPU per message.
 */
async function crossRounds(
  config: BenchConfig,
): Promise<Record<CrossSetup, CrossResult>> {
  const all: Record<CrossSetup, CrossResult[]> = {
    sqlite: [],
    "redis-1": [],
    "redis-2": [],
  };
  let order: CrossSetup[] = [...CROSS_SETUPS];
  for (let round = 0; round < config.rounds; round++) {
    config.progress(
      config.rounds > 1
        ? `cross-instance (round ${round + 1} of ${config.rounds}):`
        : "cross-instance:",
    );
    for (const setup of order) {
      all[setup].push(await crossInstance(setup, config));
    }
    order = [...order.slice(1), order[0]];
  }
  const pick = (list: CrossResult[]): CrossResult => {
    const latency =
      [...list].sort((a, b) => a.latency.cores.rest - b.latency.cores.rest)[0]
        .latency;
    const byCpu = [...list].sort((a, b) =>
      a.cpu.serverCpuPerMsgUs - b.cpu.serverCpuPerMsgUs
    );
    return { ...list[0], latency, cpu: byCpu[(byCpu.length - 1) >> 1].cpu };
  };
  return {
    sqlite: pick(all.sqlite),
    "redis-1": pick(all["redis-1"]),
    "redis-2": pick(all["redis-2"]),
  };
}

/** Warnings about the machine that would make a run fail or mislead. */
function preflight(config: BenchConfig): string[] {
  const warnings: string[] = [];
  const [range, limits] = readProcFiles([
    "/proc/sys/net/ipv4/ip_local_port_range",
    `/proc/${Deno.pid}/limits`,
  ]);
  if (range) {
    const [low, high] = range.trim().split(/\s+/).map(Number);
    if (high - low + 1 < config.maxConnections) {
      warnings.push(
        `ephemeral port range ${low}-${high} holds fewer than ${config.maxConnections} connections`,
      );
    }
  }
  if (limits) {
    const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
    if (soft < config.maxConnections + 100) {
      warnings.push(
        `open-file limit ${soft} is too low for ${config.maxConnections} connections in the server`,
      );
    }
  }
  if (cpuCount() < 2) warnings.push("one CPU: server and generator share it");
  if (taskset() === null) warnings.push("no taskset: processes are not pinned");
  return warnings;
}

async function runMicroBenches(): Promise<number> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bench",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      ...MICRO_BENCHES,
    ],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  return code;
}

async function main(): Promise<number> {
  const tempDir = await Deno.makeTempDir({ prefix: "parley-bench-" });
  try {
    const { config, scenarios } = configFromEnv(Deno.env.toObject(), tempDir);
    for (const warning of preflight(config)) {
      console.error(`warning: ${warning}`);
    }
    // The orchestrator runs beside the generators, away from the server.
    const bin = taskset();
    if (bin) {
      await new Deno.Command(bin, {
        args: ["-a", "-pc", String(config.generatorCpu), String(Deno.pid)],
        stdout: "null",
        stderr: "null",
      }).output();
    }
    const started = performance.now();
    const results = await runBench(config, scenarios, {
      profile: Deno.env.get("BENCH_PROFILE") === "1",
    });
    const m = results.machine;
    console.log(
      `\nParley load benchmark, ${m.date}: ${m.nproc} × ${m.cpuModel}, Deno ${m.deno}; ` +
        `server on CPU ${config.serverCpu}, generator on CPU ${config.generatorCpu}` +
        `${m.pinned ? "" : " (not pinned)"}; frames average ${
          results.averageFrameBytes.toFixed(0)
        } B as sent; ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
    );
    if (scenarios.some((s) => s !== "cross")) {
      console.log(summaryTable(results));
      console.log();
      console.log(detailTables(results));
    }
    if (results.cross) {
      console.log();
      console.log(crossTable(results, config));
    }
    const jsonPath = Deno.env.get("BENCH_JSON");
    if (jsonPath) {
      await Deno.writeTextFile(jsonPath, JSON.stringify(results, null, 2));
    }
  } finally {
    await Deno.remove(tempDir, { recursive: true }).catch(() => {});
  }
  if (Deno.env.get("BENCH_MICRO") === "0") {
    console.log(
      `\nMicro-benchmarks skipped; run: deno bench --allow-read --allow-write --allow-env ${
        MICRO_BENCHES.join(" ")
      }`,
    );
    return 0;
  }
  console.log("\nMicro-benchmarks (deno bench):\n");
  return await runMicroBenches();
}

if (import.meta.main) {
  Deno.exit(await main());
}

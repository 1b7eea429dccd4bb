/**
 * The load scenarios. Each runs against one server process started for it,
 * with its own load generator processes, and returns figures for that
 * server; `run.ts` runs each for Parley and for the bare relay in turn.
 *
 * @module
 */
import {
  faultCount,
  type Generators,
  type Merged,
  split,
} from "./generators.ts";
import { Generators as GeneratorSet } from "./generators.ts";
import { CpuMeter, type CpuSplit, processRssKiB } from "./procfs.ts";
import { type ServerKind, type ServerProcess, startServer } from "./servers.ts";
import { startRedis } from "./redis.ts";
import { type Faults, newFaults } from "./load_worker.ts";

/** Everything a run can be told; `run.ts` reads it from the environment. */
export interface BenchConfig {
  /** Idle connections for the memory figure. */
  idleConnections: number;
  /** Concurrent connections for the no-errors figure. */
  maxConnections: number;
  /** Connections one generator process holds at most. */
  connectionsPerWorker: number;
  /** Connects in flight per generator process. */
  connectConcurrency: number;
  joinRate: number;
  joinCount: number;
  latencyRate: number;
  latencyCount: number;
  cpuRate: number;
  cpuCount: number;
  /** Rate and count of the cross-instance scenario's latency step. */
  crossLatencyRate: number;
  crossLatencyCount: number;
  /** Rate and count of its CPU step (two Parley and Redis share one core). */
  crossCpuRate: number;
  crossCpuCount: number;
  rampRates: number[];
  rampStepSec: number;
  rampP99LimitMs: number;
  /** Times a failing ramp step is tried again before the ramp stops. */
  rampRetries: number;
  /** Rounds of the join, latency and CPU steps (the median is kept). */
  rounds: number;
  /** Pairs that relay in the relay scenarios. */
  relayPairs: number;
  /** Generator processes for the relay scenarios. */
  relayWorkers: number;
  /** Parse every relayed frame as JSON too (slower; for the smoke test). */
  fullCheck: boolean;
  serverCpu: number;
  generatorCpu: number;
  tempDir: string;
  /** Write V8 CPU profiles of the servers here. */
  cpuProfDir?: string;
  /** How long connections sit idle before RSS is read. */
  settleMs: number;
  /** Messages sent to warm up before a measured relay step. */
  warmupCount: number;
  /** Joins made to warm up before the measured join step. */
  joinWarmupCount: number;
  /** Progress lines go here. */
  progress: (line: string) => void;
}

/** Latency figures of one step, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** CPU use of one step, in cores (1 = one core busy the whole step). */
export interface CoreUse {
  server: number;
  generator: number;
  rest: number;
}

/** Result of the connections scenario (idle memory, setup, 19k). */
export interface ConnectionsResult {
  idleConnections: number;
  rssBeforeKiB: number;
  rssIdleKiB: number;
  memPerConnKiB: number;
  setupCpuUs: number;
  connectsPerSec: number;
  setupCores: CoreUse;
  maxConnections: number;
  /** Connections open and joined at the peak. */
  peakConnections: number;
  rssPeakKiB: number;
  roundSent: number;
  roundReceived: number;
  faults: Faults;
}

/** Result of the join-rate scenario. */
export interface JoinResult {
  rate: number;
  joins: number;
  latency: LatencySummary;
  serverCpuPerJoinUs: number;
  maxLagMs: number;
  cores: CoreUse;
  faults: Faults;
}

/** Result of one fixed-rate relay step. */
export interface RelayResult {
  rate: number;
  achievedRate: number;
  sent: number;
  received: number;
  latency: LatencySummary;
  serverCpuPerMsgUs: number;
  /**
   * The same for each server process, in the order measured (the Parley
   * instances, then Redis, in the cross-instance scenario).
   */
  serverPartsPerMsgUs: number[];
  /** Share of the server's CPU spent in the kernel. */
  serverSysShare: number;
  maxLagMs: number;
  cores: CoreUse;
  faults: Faults;
}

/** Result of the ramp. */
export interface RampResult {
  steps: RelayResult[];
  /** Highest rate that met the p99 limit with every message delivered. */
  maxRate: number;
  /** Why the ramp stopped. */
  stoppedBy: string;
  /**
   * The rate one full server core would carry at the highest passing step's
   * CPU per message: what the server could do if the generator kept up.
   */
  serverCoreRate: number;
}

function summary(merged: Merged): LatencySummary {
  const h = merged.latency;
  return {
    count: h.count,
    p50: h.quantile(0.5),
    p99: h.quantile(0.99),
    max: h.maxMs,
  };
}

function cores(split: CpuSplit): CoreUse {
  return {
    server: split.serverSec / split.wallSec,
    generator: split.generatorSec / split.wallSec,
    rest: split.restSec / split.wallSec,
  };
}

function check(merged: Merged, what: string): void {
  if (merged.errors.length > 0) {
    throw new Error(`${what}: ${merged.errors.join("; ")}`);
  }
}

/** Runs `body` with a fresh server and generator processes, then stops both. */
export async function withServer<T>(
  kind: ServerKind,
  workers: number,
  config: BenchConfig,
  body: (server: ServerProcess, generators: Generators) => Promise<T>,
): Promise<T> {
  await using server = await startServer(kind, {
    cpu: config.serverCpu,
    tempDir: config.tempDir,
    cpuProfDir: config.cpuProfDir,
  });
  await using generators = new GeneratorSet(workers, config.generatorCpu);
  const result = await body(server, generators);
  // Clients close first, so the server sees ordinary closes.
  await generators.run(() => ({ cmd: "close" }));
  if (!server.running) {
    throw new Error(`${kind} server died: ${server.log.join("\n")}`);
  }
  return result;
}

function addFaults(into: Faults, from: Faults): void {
  for (const key of Object.keys(into) as (keyof Faults)[]) {
    into[key] += from[key];
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens `idleConnections` joined in rooms of two and reads the server's RSS
 * (memory per connection, and server CPU per connect + join), then grows to
 * `maxConnections` and relays one message to every socket.
 */
export function connections(
  kind: ServerKind,
  config: BenchConfig,
): Promise<ConnectionsResult> {
  const workers = Math.max(
    1,
    Math.ceil(config.maxConnections / config.connectionsPerWorker),
  );
  return withServer(kind, workers, config, async (server, generators) => {
    const faults = newFaults();
    const prefix = `c${Date.now().toString(36)}`;
    // Let the server finish starting before the memory baseline.
    await sleep(500);
    const rssBeforeKiB = processRssKiB(server.pid);
    const idlePairs = Math.floor(config.idleConnections / 2);
    const meter = new CpuMeter(server.pid, () => generators.pids());
    meter.start();
    const connected = await generators.run((i) => ({
      cmd: "connect",
      url: server.wsUrl,
      pairs: split(idlePairs, generators.size, i),
      concurrency: config.connectConcurrency,
      roomPrefix: `${prefix}-a${i}`,
    }));
    const setup = meter.stop();
    check(connected, "connect");
    addFaults(faults, connected.faults);
    config.progress(
      `  ${kind}: ${connected.pairs * 2} joined in ${
        setup.wallSec.toFixed(1)
      } s`,
    );
    // Idle: let timers, GC and allocator settle, then read RSS a few times.
    await sleep(config.settleMs);
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      samples.push(processRssKiB(server.pid));
      await sleep(300);
    }
    const rssIdleKiB = samples.sort((a, b) => a - b)[1];
    const idle = connected.pairs * 2;

    const morePairs = Math.floor(config.maxConnections / 2) - connected.pairs;
    const more = await generators.run((i) => ({
      cmd: "connect",
      url: server.wsUrl,
      pairs: split(Math.max(0, morePairs), generators.size, i),
      concurrency: config.connectConcurrency,
      roomPrefix: `${prefix}-b${i}`,
    }));
    check(more, "connect");
    addFaults(faults, more.faults);
    const peak = more.pairs * 2;
    const rssPeakKiB = processRssKiB(server.pid);
    // Every socket sends one message to its peer and gets one back.
    const round = await generators.run(() => ({
      cmd: "relay",
      rate: 20_000 / generators.size,
      count: 0,
      perPair: 2,
      pairs: Number.MAX_SAFE_INTEGER,
      fullCheck: config.fullCheck,
    }));
    check(round, "relay");
    addFaults(faults, round.faults);
    config.progress(
      `  ${kind}: ${peak} joined, ${round.received}/${round.sent} relayed, ${
        faultCount(faults)
      } faults`,
    );
    return {
      idleConnections: idle,
      rssBeforeKiB,
      rssIdleKiB,
      memPerConnKiB: (rssIdleKiB - rssBeforeKiB) / idle,
      setupCpuUs: setup.serverSec / idle * 1e6,
      connectsPerSec: idle / setup.wallSec,
      setupCores: cores(setup),
      maxConnections: config.maxConnections,
      peakConnections: peak,
      rssPeakKiB,
      roundSent: round.sent,
      roundReceived: round.received,
      faults,
    };
  });
}

/** Connect + join + `joined` latency at a fixed rate of new joins. */
export function joinRate(
  kind: ServerKind,
  config: BenchConfig,
): Promise<JoinResult> {
  return withServer(kind, 1, config, async (server, generators) => {
    // Warm up: JIT, the database file, and the server's descriptor table.
    // These joins stay open, so the table (which Linux grows by doubling,
    // with a 10–40 ms stall each time) is already larger than the measured
    // joins need, as it would be in a server that has been up for a while.
    const warm = await generators.run(() => ({
      cmd: "connect",
      url: server.wsUrl,
      pairs: Math.ceil(config.joinWarmupCount / 2),
      concurrency: config.connectConcurrency,
      roomPrefix: `w${Date.now().toString(36)}`,
    }));
    check(warm, "join warm-up");
    const meter = new CpuMeter(server.pid, () => generators.pids());
    meter.start();
    const merged = await generators.run(() => ({
      cmd: "join-rate",
      url: server.wsUrl,
      rate: config.joinRate,
      count: config.joinCount,
      roomPrefix: `j${Date.now().toString(36)}`,
    }));
    const split = meter.stop();
    check(merged, "join-rate");
    const latency = summary(merged);
    config.progress(
      `  ${kind}: ${merged.joins} joins at ${config.joinRate}/s, p50 ${
        latency.p50.toFixed(2)
      } ms, p99 ${latency.p99.toFixed(2)} ms`,
    );
    return {
      rate: config.joinRate,
      joins: merged.joins,
      latency,
      serverCpuPerJoinUs: split.serverSec / merged.joins * 1e6,
      maxLagMs: merged.maxLagMs,
      cores: cores(split),
      faults: merged.faults,
    };
  });
}

/** Connects the relay pairs of the relay scenarios. */
async function connectRelayPairs(
  server: ServerProcess,
  generators: Generators,
  config: BenchConfig,
  peerServer: ServerProcess = server,
): Promise<void> {
  const merged = await generators.run((i) => ({
    cmd: "connect",
    url: server.wsUrl,
    peerUrl: peerServer.wsUrl,
    pairs: split(config.relayPairs, generators.size, i),
    concurrency: config.connectConcurrency,
    roomPrefix: `r${Date.now().toString(36)}-${i}`,
  }));
  check(merged, "connect");
  if (faultCount(merged.faults) > 0) {
    throw new Error(`connect: ${JSON.stringify(merged.faults)}`);
  }
}

/** One fixed-rate relay step over the joined pairs. */
async function relayStep(
  server: ServerProcess | number[],
  generators: Generators,
  config: BenchConfig,
  rate: number,
  count: number,
): Promise<RelayResult> {
  const pids = Array.isArray(server) ? server : [server.pid];
  const meter = new CpuMeter(pids, () => generators.pids());
  meter.start();
  const merged = await generators.run((i) => ({
    cmd: "relay",
    rate: rate / generators.size,
    count: split(count, generators.size, i),
    pairs: Number.MAX_SAFE_INTEGER,
    fullCheck: config.fullCheck,
  }));
  const used = meter.stop();
  check(merged, "relay");
  // The CPU window includes the drain; the rate is what the sender managed.
  return {
    rate,
    achievedRate: merged.sent / (merged.elapsedMs / 1000),
    sent: merged.sent,
    received: merged.received,
    latency: summary(merged),
    serverCpuPerMsgUs: used.serverSec / Math.max(1, merged.received) * 1e6,
    serverPartsPerMsgUs: used.serverParts.map((sec) =>
      sec / Math.max(1, merged.received) * 1e6
    ),
    serverSysShare: used.serverSysSec / used.serverSec,
    maxLagMs: merged.maxLagMs,
    cores: cores(used),
    faults: merged.faults,
  };
}

/** Relay latency at a fixed, moderate rate. */
export function relayLatency(
  kind: ServerKind,
  config: BenchConfig,
): Promise<RelayResult> {
  return withServer(
    kind,
    config.relayWorkers,
    config,
    async (server, generators) => {
      await connectRelayPairs(server, generators, config);
      // Warm up the JIT on both sides before measuring.
      await relayStep(
        server,
        generators,
        config,
        config.latencyRate,
        config.warmupCount,
      );
      const result = await relayStep(
        server,
        generators,
        config,
        config.latencyRate,
        config.latencyCount,
      );
      config.progress(
        `  ${kind}: ${result.received}/${result.sent} at ${config.latencyRate}/s, p50 ${
          result.latency.p50.toFixed(3)
        } ms, p99 ${result.latency.p99.toFixed(3)} ms`,
      );
      return result;
    },
  );
}

/** Server CPU per relayed message at a fixed high rate. */
export function relayCpu(
  kind: ServerKind,
  config: BenchConfig,
): Promise<RelayResult> {
  return withServer(
    kind,
    config.relayWorkers,
    config,
    async (server, generators) => {
      await connectRelayPairs(server, generators, config);
      await relayStep(
        server,
        generators,
        config,
        config.cpuRate,
        config.warmupCount * 2,
      );
      const result = await relayStep(
        server,
        generators,
        config,
        config.cpuRate,
        config.cpuCount,
      );
      config.progress(
        `  ${kind}: ${result.achievedRate.toFixed(0)} msg/s, ${
          result.serverCpuPerMsgUs.toFixed(2)
        } µs server CPU/msg, server ${
          (result.cores.server * 100).toFixed(0)
        }% of a core`,
      );
      return result;
    },
  );
}

/** Raises the rate step by step until p99 passes the limit or messages drop. */
export function ramp(
  kind: ServerKind,
  config: BenchConfig,
): Promise<RampResult> {
  return withServer(
    kind,
    config.relayWorkers,
    config,
    async (server, generators) => {
      await connectRelayPairs(server, generators, config);
      await relayStep(
        server,
        generators,
        config,
        config.rampRates[0],
        config.warmupCount,
      );
      const steps: RelayResult[] = [];
      let maxRate = 0;
      let stoppedBy = "end of ramp";
      for (const rate of config.rampRates) {
        // A step that fails is tried again: on a shared machine one burst of
        // someone else's load can sink a step the server would pass.
        let step: RelayResult | undefined;
        let failure = "";
        // Attempts while the rest of the machine used more than a quarter of
        // a core do not count against the retries (up to a bound).
        let retries = config.rampRetries;
        for (let attempt = 0; attempt <= retries; attempt++) {
          step = await relayStep(
            server,
            generators,
            config,
            rate,
            Math.round(rate * config.rampStepSec),
          );
          config.progress(
            `  ${kind}: ${rate}/s → ${step.achievedRate.toFixed(0)}/s, p99 ${
              step.latency.p99.toFixed(2)
            } ms, server ${(step.cores.server * 100).toFixed(0)}%, generator ${
              (step.cores.generator * 100).toFixed(0)
            }%, rest ${(step.cores.rest * 100).toFixed(0)}%`,
          );
          failure = rampFailure(step, config);
          if (failure === "" || failure.startsWith("faults")) break;
          if (
            step.cores.rest > NOISY_REST_CORES &&
            retries < config.rampRetries + 4
          ) {
            retries++;
          }
        }
        if (!step) break;
        steps.push(step);
        if (failure !== "") {
          stoppedBy = failure;
          if (failure.startsWith("generator")) {
            maxRate = Math.max(maxRate, step.achievedRate);
          }
          break;
        }
        maxRate = rate;
      }
      const best = steps.filter((s) => s.rate <= maxRate).at(-1);
      const serverCoreRate = best ? best.achievedRate / best.cores.server : 0;
      return { steps, maxRate, stoppedBy, serverCoreRate };
    },
  );
}

/**
 * The three setups of the cross-instance scenario: one Parley on SQLite
 * (the other scenarios' setup); one Parley on Redis, both peers of a pair on
 * it (signals delivered in process, Redis only for joins); two Parley
 * instances on one Redis, the two peers of every pair on different
 * instances (every signal published on Redis and delivered by the other).
 */
export const CROSS_SETUPS = ["sqlite", "redis-1", "redis-2"] as const;

/** One setup of the cross-instance scenario. */
export type CrossSetup = (typeof CROSS_SETUPS)[number];

/** Result of one setup of the cross-instance scenario. */
export interface CrossResult {
  setup: CrossSetup;
  /** Relay at `crossLatencyRate`. */
  latency: RelayResult;
  /** Relay at `crossCpuRate`; CPU summed over every Parley and Redis. */
  cpu: RelayResult;
}

/**
 * Relays the latency and CPU steps' traffic through one setup of the
 * cross-instance scenario. Every server process (Parley instances and
 * `redis-server`) is pinned to the server core; CPU per message is their
 * sum.
 */
export async function crossInstance(
  setup: CrossSetup,
  config: BenchConfig,
): Promise<CrossResult> {
  const cpu = config.serverCpu;
  // Disposed in reverse: generators, then the instances, then Redis.
  await using redis = setup === "sqlite"
    ? undefined
    : await startRedis({ cpu, tempDir: config.tempDir });
  const options = {
    cpu,
    tempDir: config.tempDir,
    cpuProfDir: config.cpuProfDir,
    redisUrl: redis?.url,
  };
  await using first = await startServer("parley", options);
  await using second = setup === "redis-2"
    ? await startServer("parley", options)
    : undefined;
  await using generators = new GeneratorSet(
    config.relayWorkers,
    config.generatorCpu,
  );
  const servers = [first, ...(second ? [second] : [])];
  const pids = [...servers.map((s) => s.pid), ...(redis ? [redis.pid] : [])];
  // Peer A of every pair on the first instance, peer B on the second.
  await connectRelayPairs(first, generators, config, second ?? first);
  await relayStep(
    pids,
    generators,
    config,
    config.crossLatencyRate,
    config.warmupCount,
  );
  const latency = await relayStep(
    pids,
    generators,
    config,
    config.crossLatencyRate,
    config.crossLatencyCount,
  );
  await relayStep(
    pids,
    generators,
    config,
    config.crossCpuRate,
    // A second's worth, to warm up at this rate.
    Math.min(config.crossCpuRate, config.crossCpuCount),
  );
  const used = await relayStep(
    pids,
    generators,
    config,
    config.crossCpuRate,
    config.crossCpuCount,
  );
  await generators.run(() => ({ cmd: "close" }));
  for (const server of servers) {
    if (!server.running) {
      throw new Error(`Parley (${setup}) died: ${server.log.join("\n")}`);
    }
  }
  if (redis && !redis.running) throw new Error("redis-server died");
  config.progress(
    `  ${setup}: ${latency.received}/${latency.sent} at ${config.crossLatencyRate}/s, p50 ${
      latency.latency.p50.toFixed(3)
    } ms, p99 ${
      latency.latency.p99.toFixed(3)
    } ms; ${used.received}/${used.sent} at ${used.achievedRate.toFixed(0)}/s, ${
      used.serverCpuPerMsgUs.toFixed(2)
    } µs/msg (${
      used.serverPartsPerMsgUs.map((us) => us.toFixed(2)).join(" + ")
    }), servers ${(used.cores.server * 100).toFixed(0)}% of a core`,
  );
  return { setup, latency, cpu: used };
}

/** CPU of the rest of the machine, in cores, above which a step is noisy. */
export const NOISY_REST_CORES = 0.25;

/** Why a ramp step fails, or "" when it passes. */
function rampFailure(step: RelayResult, config: BenchConfig): string {
  if (faultCount(step.faults) > 0) return `faults at ${step.rate}/s`;
  if (step.latency.p99 > config.rampP99LimitMs) {
    return `p99 over ${config.rampP99LimitMs} ms at ${step.rate}/s` +
      (step.cores.generator > 0.9 ? " (generator saturated too)" : "");
  }
  if (step.achievedRate < step.rate * 0.95) {
    return `generator could not send ${step.rate}/s`;
  }
  return "";
}

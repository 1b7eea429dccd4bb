/**
 * `deno task bench:scale`: as many joined clients as one machine holds,
 * spread over several Parley instances that share one real `redis-server`.
 * Each instance takes at most `SCALE_PER_INSTANCE` sockets (the per-process
 * open-file limit is 20,000 here), each generator process at most
 * `SCALE_PER_WORKER`; the two peers of every room sit on neighbouring
 * instances, so every room spans two instances. Clients connect to different
 * server ports, so the loopback source ports (about 28,000 per destination
 * port) never run out. Once everyone is in, every client sends `ping` at
 * Parley's default interval (20 s) while the servers' CPU and memory are
 * read, then a trickle of call set-up signals crosses instances and is
 * timed. Everything is on loopback and stops by itself.
 *
 * Knobs: `SCALE_CONNECTIONS` (100000), `SCALE_PER_INSTANCE` (17000),
 * `SCALE_PER_WORKER` (10000), `SCALE_HOLD_SEC` (40), `SCALE_SIGNAL_RATE`
 * (500 per second, for 10 s), `BENCH_JSON` (write the result there).
 *
 * @module
 */
import { createClient } from "redis";
import { faultCount, Generators, type Merged, split } from "./generators.ts";
import { cpuModel, processCpuSec, processRssKiB } from "./procfs.ts";
import { startRedis } from "./redis.ts";
import { type ServerProcess, startServer } from "./servers.ts";

/** What a scale run measured. */
export interface ScaleResult {
  date: string;
  target: number;
  instances: number;
  workers: number;
  /** Clients joined (two per room) with no fault. */
  joined: number;
  faults: Merged["faults"];
  errors: string[];
  rampSec: number;
  joinP50Ms: number;
  joinP99Ms: number;
  /** RSS of each instance after the hold (KiB), and before any client. */
  rssKiB: number[];
  rssIdleKiB: number[];
  /** Server CPU while holding everyone with pings, per connection. */
  serverCpuUsPerConnPerSec: number;
  serverCores: number;
  redisCores: number;
  pingsPerSec: number;
  redisUsedMemory: number;
  redisKeys: number;
  signalRate: number;
  signalSent: number;
  signalReceived: number;
  signalP50Ms: number;
  signalP99Ms: number;
}

function num(name: string, fallback: number): number {
  const text = Deno.env.get(name);
  const n = Number(text);
  return text && Number.isFinite(n) && n > 0 ? n : fallback;
}

async function redisInfo(url: string): Promise<{ used: number; keys: number }> {
  const client = createClient({ url });
  client.on("error", () => {});
  await client.connect();
  try {
    const memory = await client.info("memory");
    const used = Number(/used_memory:(\d+)/.exec(memory)?.[1] ?? NaN);
    return { used, keys: await client.dbSize() };
  } finally {
    client.destroy();
  }
}

/** The size of a scale run. */
export interface ScaleOptions {
  /** Clients to join (rounded to rooms of two). */
  connections: number;
  perInstance: number;
  perWorker: number;
  holdSec: number;
  /** Signals per second of the trickle (it lasts 10 s). */
  signalRate: number;
}

/** The options from the `SCALE_*` environment variables. */
export function scaleOptionsFromEnv(): ScaleOptions {
  return {
    connections: num("SCALE_CONNECTIONS", 100_000),
    perInstance: num("SCALE_PER_INSTANCE", 17_000),
    perWorker: num("SCALE_PER_WORKER", 10_000),
    holdSec: num("SCALE_HOLD_SEC", 40),
    signalRate: num("SCALE_SIGNAL_RATE", 500),
  };
}

/** Runs the scale scenario and returns its figures. */
export async function runScale(
  options: ScaleOptions,
  progress: (line: string) => void = console.error,
): Promise<ScaleResult> {
  const target = Math.round(options.connections / 2) * 2;
  const { perInstance, perWorker, holdSec, signalRate } = options;
  const instances = Math.max(2, Math.ceil(target / perInstance));
  // A multiple of the instances, so that every instance gets the same share
  // (worker i puts the rooms' first peers on instance i mod N, the second
  // on the next one).
  const workers = Math.ceil(Math.ceil(target / perWorker) / instances) *
    instances;
  const tempDir = await Deno.makeTempDir({ prefix: "parley-scale-" });
  try {
    await using redis = await startRedis({ cpu: 0, tempDir });
    const servers: ServerProcess[] = [];
    await using stack = new AsyncDisposableStack();
    for (let i = 0; i < instances; i++) {
      servers.push(
        stack.use(
          await startServer("parley", { cpu: 0, tempDir, redisUrl: redis.url }),
        ),
      );
    }
    const rssIdleKiB = servers.map((s) => processRssKiB(s.pid));
    const generators = stack.use(new Generators(workers, 1));
    progress(
      `scale: ${target} clients, ${instances} instances, ${workers} generator processes`,
    );
    const started = performance.now();
    const connected = await generators.run((i) => ({
      cmd: "connect",
      url: servers[i % instances].wsUrl,
      peerUrl: servers[(i + 1) % instances].wsUrl,
      pairs: split(target / 2, workers, i),
      concurrency: 64,
      roomPrefix: `scale-${i}`,
    }));
    const rampSec = (performance.now() - started) / 1000;
    progress(
      `scale: ${connected.joins} joined in ${rampSec.toFixed(1)} s, faults ${
        JSON.stringify(connected.faults)
      }`,
    );

    // Hold everyone, pinging at Parley's default interval.
    const pids = [...servers.map((s) => s.pid)];
    const cpu0 = pids.map(processCpuSec);
    const redisCpu0 = processCpuSec(redis.pid);
    const t0 = performance.now();
    const pinged = await generators.run(() => ({
      cmd: "ping",
      intervalMs: 20_000,
      durationMs: holdSec * 1000,
    }));
    const heldSec = (performance.now() - t0) / 1000;
    const serverSec = pids.map(processCpuSec).reduce((a, b) => a + b, 0) -
      cpu0.reduce((a, b) => a + b, 0);
    const redisSec = processCpuSec(redis.pid) - redisCpu0;
    const rssKiB = servers.map((s) => processRssKiB(s.pid));
    const info = await redisInfo(redis.url);
    progress(
      `scale: held ${heldSec.toFixed(0)} s, servers ${
        (serverSec / heldSec).toFixed(2)
      } cores, Redis ${(redisSec / heldSec).toFixed(3)} cores`,
    );

    // A trickle of call set-ups across instances, timed.
    const signals = await generators.run((i) => ({
      cmd: "relay",
      rate: split(signalRate, workers, i) || 1,
      count: split(signalRate * 10, workers, i) || 1,
      pairs: split(target / 2, workers, i),
      fullCheck: true,
    }));
    const faults = { ...connected.faults };
    for (const m of [pinged, signals]) {
      for (const key of Object.keys(faults) as (keyof typeof faults)[]) {
        faults[key] += m.faults[key];
      }
    }
    for (const server of servers) {
      if (!server.running) {
        throw new Error(`an instance died: ${server.log.join("\n")}`);
      }
    }
    return {
      date: new Date().toISOString(),
      target,
      instances,
      workers,
      joined: connected.joins,
      faults,
      errors: [...connected.errors, ...pinged.errors, ...signals.errors],
      rampSec,
      joinP50Ms: connected.latency.quantile(0.5),
      joinP99Ms: connected.latency.quantile(0.99),
      rssKiB,
      rssIdleKiB,
      serverCpuUsPerConnPerSec: serverSec / heldSec / connected.joins * 1e6,
      serverCores: serverSec / heldSec,
      redisCores: redisSec / heldSec,
      pingsPerSec: pinged.sent / heldSec,
      redisUsedMemory: info.used,
      redisKeys: info.keys,
      signalRate,
      signalSent: signals.sent,
      signalReceived: signals.received,
      signalP50Ms: signals.latency.quantile(0.5),
      signalP99Ms: signals.latency.quantile(0.99),
    };
  } finally {
    await Deno.remove(tempDir, { recursive: true }).catch(() => {});
  }
}

/** The result as the Markdown rows `docs/benchmarks.md` shows. */
export function scaleTable(r: ScaleResult): string {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const perInstance = r.joined / r.instances;
  const rows: [string, string][] = [
    [
      "clients joined (rooms of 2, each across two instances)",
      `${r.joined} of ${r.target}`,
    ],
    [
      "faults (failed joins, errors, unexpected closes, lost)",
      String(faultCount(r.faults)),
    ],
    ["instances / generator processes", `${r.instances} / ${r.workers}`],
    [
      "ramp: connect and join everyone",
      `${r.rampSec.toFixed(1)} s (${
        (r.joined / r.rampSec).toFixed(0)
      } joins/s)`,
    ],
    [
      "join p50 / p99 during the ramp",
      `${r.joinP50Ms.toFixed(1)} / ${r.joinP99Ms.toFixed(1)} ms`,
    ],
    [
      "RSS per instance (idle → holding)",
      `${(sum(r.rssIdleKiB) / r.instances / 1024).toFixed(0)} → ${
        (sum(r.rssKiB) / r.instances / 1024).toFixed(0)
      } MiB`,
    ],
    [
      "RSS per connection",
      `${((sum(r.rssKiB) - sum(r.rssIdleKiB)) / r.joined).toFixed(1)} KiB`,
    ],
    [
      "Redis memory per peer / per room",
      `${(r.redisUsedMemory / r.joined).toFixed(0)} / ${
        (r.redisUsedMemory / (r.joined / 2)).toFixed(0)
      } B (used_memory ${
        (r.redisUsedMemory / 2 ** 20).toFixed(0)
      } MiB, ${r.redisKeys} keys)`,
    ],
    ["pings handled", `${r.pingsPerSec.toFixed(0)}/s`],
    [
      "server CPU at rest (all instances)",
      `${r.serverCores.toFixed(2)} cores, ${
        r.serverCpuUsPerConnPerSec.toFixed(1)
      } µs per connection per second`,
    ],
    ["Redis CPU at rest", `${r.redisCores.toFixed(3)} cores`],
    [
      "signals across instances",
      `${r.signalReceived} of ${r.signalSent} at ${r.signalRate}/s, p50 ${
        r.signalP50Ms.toFixed(2)
      } ms, p99 ${r.signalP99Ms.toFixed(2)} ms`,
    ],
    ["per instance", `${perInstance.toFixed(0)} sockets`],
  ];
  return [
    "| figure | value |",
    "| --- | --- |",
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
  ].join("\n");
}

if (import.meta.main) {
  const result = await runScale(scaleOptionsFromEnv());
  console.log(
    `\nParley scale run, ${result.date}: ${cpuModel()}, Deno ${Deno.version.deno}\n`,
  );
  console.log(scaleTable(result));
  const json = Deno.env.get("BENCH_JSON");
  if (json) await Deno.writeTextFile(json, JSON.stringify(result, null, 2));
  if (result.errors.length) console.error(result.errors.join("\n"));
}

/**
 * The orchestrator's side of the load generator: spawns `load_worker.ts`
 * processes (pinned to the generator's core), sends them commands and merges
 * their answers.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Histogram } from "./histogram.ts";
import {
  type Faults,
  lines,
  newFaults,
  type WorkerCommand,
  type WorkerReply,
} from "./load_worker.ts";
import { pinned } from "./servers.ts";

const WORKER = fileURLToPath(new URL("./load_worker.ts", import.meta.url));
const EXIT_TIMEOUT_MS = 15_000;

/** The merged answer of every worker to one command. */
export interface Merged {
  pairs: number;
  sent: number;
  received: number;
  joins: number;
  latency: Histogram;
  maxLagMs: number;
  /** Longest time any worker took. */
  elapsedMs: number;
  faults: Faults;
  errors: string[];
}

/** One load generator process. */
class Worker {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #replies: AsyncGenerator<string>;
  readonly pid: number;
  exited = false;

  constructor(cpu: number | undefined) {
    const [bin, ...args] = pinned(cpu, [
      Deno.execPath(),
      "run",
      "--allow-net",
      // To grow the descriptor table by opening /dev/null; see load_worker.
      "--allow-read=/dev/null",
      WORKER,
    ]);
    this.#child = new Deno.Command(bin, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.pid = this.#child.pid;
    this.#writer = this.#child.stdin.getWriter();
    this.#replies = lines(this.#child.stdout);
    this.#child.status.then(() => this.exited = true);
  }

  async request(cmd: WorkerCommand): Promise<WorkerReply> {
    await this.#writer.write(
      new TextEncoder().encode(JSON.stringify(cmd) + "\n"),
    );
    const next = await this.#replies.next();
    if (next.done) throw new Error(`load worker ${this.pid} exited`);
    return JSON.parse(next.value) as WorkerReply;
  }

  async exit(): Promise<void> {
    if (!this.exited) {
      await this.request({ cmd: "exit" }).catch(() => {});
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, EXIT_TIMEOUT_MS);
    await this.#child.status;
    clearTimeout(timer);
    await this.#writer.close().catch(() => {});
  }
}

/** A set of load generator processes that act as one. */
export class Generators implements AsyncDisposable {
  readonly #workers: Worker[];

  /** Spawns `count` workers, pinned to `cpu` when `taskset` exists. */
  constructor(count: number, cpu: number | undefined) {
    this.#workers = Array.from({ length: count }, () => new Worker(cpu));
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Process IDs, for CPU accounting. */
  pids(): number[] {
    return this.#workers.map((w) => w.pid);
  }

  /** Sends each worker its own command (by index) and merges the answers. */
  async run(command: (index: number) => WorkerCommand): Promise<Merged> {
    const replies = await Promise.all(
      this.#workers.map((w, i) => w.request(command(i))),
    );
    const merged: Merged = {
      pairs: 0,
      sent: 0,
      received: 0,
      joins: 0,
      latency: new Histogram(),
      maxLagMs: 0,
      elapsedMs: 0,
      faults: newFaults(),
      errors: [],
    };
    for (const reply of replies) {
      merged.pairs += reply.pairs;
      merged.sent += reply.sent;
      merged.received += reply.received;
      merged.joins += reply.joins;
      if (reply.latency) merged.latency.merge(reply.latency);
      merged.maxLagMs = Math.max(merged.maxLagMs, reply.maxLagMs);
      merged.elapsedMs = Math.max(merged.elapsedMs, reply.elapsedMs);
      for (const key of Object.keys(merged.faults) as (keyof Faults)[]) {
        merged.faults[key] += reply.faults[key];
      }
      if (reply.error) merged.errors.push(reply.error);
    }
    return merged;
  }

  /** Closes every client, and exits the workers. */
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.exit()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Splits `total` into `parts` whole shares that add up to it. */
export function split(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

/** Sum of all faults: zero in a clean run. */
export function faultCount(faults: Faults): number {
  return Object.values(faults).reduce((a, b) => a + b, 0);
}

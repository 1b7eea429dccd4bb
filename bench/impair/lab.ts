/**
 * The impairment lab: packet loss, delay with jitter, outages and a rate cap
 * on the UDP traffic of a loopback-only network namespace, for calls between
 * headless browsers. This kernel has no `sch_netem`, so loss and delay come
 * from `impair.c` (built here with gcc against Debian's
 * libnetfilter-queue-dev) behind an iptables NFQUEUE rule that matches UDP
 * on `lo` only: signaling over TCP is never impaired. The rate cap is a
 * `tbf` under an `htb` whose u32 filter sends UDP, and only UDP, to it.
 *
 * Every command here changes the network of the namespace the process runs
 * in, so {@linkcode ImpairmentLab.start} refuses to run anywhere that has
 * an interface besides `lo` (the host's rules are never touched).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const SOURCE = fileURLToPath(new URL("./impair.c", import.meta.url));

/** One network condition; omitted fields mean "none". */
export interface Condition {
  /** Probability (0–1) that a packet is dropped. */
  loss?: number;
  /** One-way delay added to each packet (ms). */
  delayMs?: number;
  /** Uniform jitter around the delay (± ms). */
  jitterMs?: number;
}

/** Counters of the helper. */
export interface LabStats {
  seen: number;
  dropped: number;
  passed: number;
  held: number;
}

async function run(command: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  if (code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} failed (${code}): ${
        new TextDecoder().decode(stderr).trim()
      }`,
    );
  }
  return out;
}

/** The interfaces of this process's network namespace. */
export async function interfaces(): Promise<string[]> {
  const netdev = await Deno.readTextFile("/proc/net/dev");
  return netdev.split("\n").slice(2).map((l) => l.split(":")[0].trim())
    .filter(Boolean);
}

/** Compiles `impair.c` into `dir` and returns the binary's path. */
export async function buildImpair(dir: string): Promise<string> {
  const out = join(dir, "impair");
  await run("gcc", [
    "-O2",
    "-Wall",
    "-o",
    out,
    SOURCE,
    "-lnetfilter_queue",
  ]);
  return out;
}

/** Options for {@linkcode ImpairmentLab.start}. */
export interface LabOptions {
  /** Where to build the helper. */
  dir: string;
  /** @default 7 */
  queue?: number;
  /** Seed of the helper's random drops and jitter. @default 1 */
  seed?: number;
}

/** A running lab: one NFQUEUE rule, one helper, maybe a rate cap. */
export class ImpairmentLab implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  #rateKbit = 0;
  #closed = false;
  /** The current condition. */
  condition: Required<Condition> = { loss: 0, delayMs: 0, jitterMs: 0 };

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines(child.stdout);
  }

  /**
   * Builds the helper, starts it on the queue and routes UDP on `lo` to it.
   * Throws unless this namespace has only `lo`.
   */
  static async start(options: LabOptions): Promise<ImpairmentLab> {
    const nics = await interfaces();
    if (nics.length !== 1 || nics[0] !== "lo") {
      throw new Error(
        `Refusing to change the network outside a loopback-only namespace (interfaces: ${nics})`,
      );
    }
    const queue = options.queue ?? 7;
    const binary = await buildImpair(options.dir);
    const child = new Deno.Command(binary, {
      args: ["--queue", String(queue), "--seed", String(options.seed ?? 1)],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lab = new ImpairmentLab(child);
    const ready = await lab.#next();
    if (!ready.startsWith("ready")) {
      await lab.close();
      throw new Error(`impair did not start: ${ready}`);
    }
    // --queue-bypass: if the helper dies, packets pass instead of vanishing.
    await run("iptables", [
      "-A",
      "OUTPUT",
      "-o",
      "lo",
      "-p",
      "udp",
      "-j",
      "NFQUEUE",
      "--queue-num",
      String(queue),
      "--queue-bypass",
    ]);
    return lab;
  }

  async #next(): Promise<string> {
    const { value, done } = await this.#lines.next();
    if (done) throw new Error("impair exited");
    return value;
  }

  async #command(line: string): Promise<string> {
    await this.#writer.write(new TextEncoder().encode(`${line}\n`));
    return await this.#next();
  }

  /** Applies `condition` from now on (omitted fields become zero). */
  async set(condition: Condition): Promise<void> {
    const next = {
      loss: condition.loss ?? 0,
      delayMs: condition.delayMs ?? 0,
      jitterMs: condition.jitterMs ?? 0,
    };
    const answer = await this.#command(
      `set loss=${next.loss} delay=${next.delayMs} jitter=${next.jitterMs}`,
    );
    if (!answer.startsWith("ok")) throw new Error(`impair: ${answer}`);
    this.condition = next;
  }

  /** A total outage of UDP (every packet dropped) until the next `set`. */
  outage(): Promise<void> {
    return this.set({ loss: 1 });
  }

  /**
   * Caps UDP on `lo` at `kbit` kbit/s with `tbf` (0 removes the cap). With
   * `groups` (lists of UDP source ports), each group gets a bucket of its
   * own and other traffic none; without, all UDP shares one. On loopback
   * both directions of a call pass the same bucket when both its ports are
   * in one group.
   */
  async rateLimit(kbit: number, groups?: number[][]): Promise<void> {
    if (this.#rateKbit > 0) {
      await run("tc", ["qdisc", "del", "dev", "lo", "root"]);
    }
    this.#rateKbit = 0;
    if (kbit <= 0) return;
    const tc = (...args: string[]) => run("tc", args);
    await tc(
      ...`qdisc add dev lo root handle 1: htb default 2 r2q 1`.split(" "),
    );
    // The htb classes only sort packets (1 Gbit/s); tbf alone shapes.
    const sorts = groups ?? [[]];
    for (const [i, ports] of [[], ...sorts].entries()) {
      const classId = `1:${i + 2}`;
      await tc(
        ...`class add dev lo parent 1: classid ${classId} htb rate 1gbit quantum 60000`
          .split(" "),
      );
      if (i === 0) continue; // 1:2, the default class: not shaped
      await tc(
        ...`qdisc add dev lo parent ${classId} handle ${
          i + 10
        }: tbf rate ${kbit}kbit burst 3kb latency 100ms`.split(" "),
      );
      const matches = ports.length
        ? ports.map((port) => `match ip sport ${port} 0xffff`)
        : ["match ip protocol 17 0xff"];
      for (const match of matches) {
        await tc(
          ...`filter add dev lo parent 1: protocol ip prio 1 u32 ${match} flowid ${classId}`
            .split(" "),
        );
      }
    }
    this.#rateKbit = kbit;
  }

  /** The helper's counters so far. */
  async stats(): Promise<LabStats> {
    const answer = await this.#command("stats");
    const field = (name: string) =>
      Number(new RegExp(`${name}=(\\d+)`).exec(answer)?.[1] ?? NaN);
    return {
      seen: field("seen"),
      dropped: field("dropped"),
      passed: field("passed"),
      held: field("held"),
    };
  }

  /** Stops the helper (it releases what it holds); idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 2_000);
    await this.#child.status;
    clearTimeout(timer);
    // Drain so the stdout resource closes.
    while (!(await this.#lines.next()).done) { /* discard */ }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

async function* lines(stream: ReadableStream<Uint8Array<ArrayBuffer>>) {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
    }
  }
}

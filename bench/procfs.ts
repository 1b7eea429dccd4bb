/**
 * What the benchmark reads from Linux's `/proc`: a process's CPU time and
 * resident memory, and the whole machine's CPU time, so each step can say
 * how much CPU the server, the generator and everything else used.
 *
 * @module
 */

/** Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`). */
export const CLOCK_TICKS_PER_SEC = 100;

/**
 * Reads files under `/proc` through a `sh` child, one spawn for all of them:
 * Deno only lets a process with `--allow-all` read `/proc` itself, and
 * `deno task bench` runs with narrower permissions (`--allow-run` among
 * them). A file that cannot be read comes back as "".
 */
export function readProcFiles(paths: readonly string[]): string[] {
  const { stdout } = new Deno.Command("sh", {
    args: [
      "-c",
      'for f do cat "$f" 2>/dev/null; printf "\\0"; done',
      "sh",
      ...paths,
    ],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(stdout).split("\0").slice(0, paths.length);
}

/** CPU seconds (user + system) from a `/proc/<pid>/stat` text; NaN if "". */
function statCpuSec(stat: string): number {
  const [user, sys] = statUserSys(stat);
  return user + sys;
}

/** User and system CPU seconds from a `/proc/<pid>/stat` text. */
function statUserSys(stat: string): [number, number] {
  if (stat === "") return [NaN, NaN];
  // The command name (field 2) may hold spaces: split after its ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15, so 11 and 12 after the name.
  return [
    Number(fields[11]) / CLOCK_TICKS_PER_SEC,
    Number(fields[12]) / CLOCK_TICKS_PER_SEC,
  ];
}

/** Busy CPU seconds of the machine from a `/proc/stat` text. */
function busyCpuSec(stat: string): number {
  const line = stat.split("\n", 1)[0];
  // cpu user nice system idle iowait irq softirq steal guest guest_nice;
  // guest time is already counted in user.
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(
    /\s+/,
  ).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SEC;
}

/** CPU seconds (user + system) a process has used so far, or NaN if gone. */
export function processCpuSec(pid: number): number {
  return statCpuSec(readProcFiles([`/proc/${pid}/stat`])[0]);
}

/** Resident memory of a process in KiB (`VmRSS`), or NaN if gone. */
export function processRssKiB(pid: number): number {
  const status = readProcFiles([`/proc/${pid}/status`])[0];
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) : NaN;
}

/** Number of CPUs the machine has online. */
export function cpuCount(): number {
  return navigator.hardwareConcurrency;
}

/** The CPU model name, as `/proc/cpuinfo` gives it. */
export function cpuModel(): string {
  const info = readProcFiles(["/proc/cpuinfo"])[0];
  return /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? "unknown";
}

/** CPU used by each party during one step of the benchmark. */
export interface CpuSplit {
  /** Wall time of the step in seconds. */
  wallSec: number;
  /** CPU seconds of the server process (of all of them, when several). */
  serverSec: number;
  /** CPU seconds of each server process, in the order the meter got them. */
  serverParts: number[];
  /** The part of `serverSec` spent in the kernel (system time). */
  serverSysSec: number;
  /** CPU seconds of the load generator processes and the orchestrator. */
  generatorSec: number;
  /** CPU seconds of everything else on the machine. */
  restSec: number;
}

/** Measures CPU per party between `start()` and `stop()`. */
export class CpuMeter {
  readonly #servers: number[];
  readonly #generators: () => number[];
  #t0 = 0;
  #servers0: number[] = [];
  #gen0 = 0;
  #busy0 = 0;
  #serverSys0 = 0;

  /**
   * `serverPids` is the server, or every process that together serves
   * (Parley instances and their Redis): their CPU is summed.
   */
  constructor(serverPids: number | number[], generatorPids: () => number[]) {
    this.#servers = typeof serverPids === "number" ? [serverPids] : serverPids;
    this.#generators = generatorPids;
  }

  /**
   * [each server, generators + this process, machine busy, servers' system
   * time], in CPU seconds.
   */
  #read(): [number[], number, number, number] {
    const gens = [Deno.pid, ...this.#generators()];
    const n = this.#servers.length;
    const texts = readProcFiles([
      ...this.#servers.map((pid) => `/proc/${pid}/stat`),
      ...gens.map((pid) => `/proc/${pid}/stat`),
      "/proc/stat",
    ]);
    const servers: number[] = [];
    let sys = 0;
    for (let i = 0; i < n; i++) {
      const [u, s] = statUserSys(texts[i]);
      servers.push(u + s);
      sys += s;
    }
    let gen = 0;
    for (let i = n; i < n + gens.length; i++) {
      gen += statCpuSec(texts[i]) || 0;
    }
    return [servers, gen, busyCpuSec(texts[n + gens.length]), sys];
  }

  /** Takes the starting readings. */
  start(): void {
    this.#t0 = performance.now();
    [this.#servers0, this.#gen0, this.#busy0, this.#serverSys0] = this.#read();
  }

  /** The CPU used since {@linkcode CpuMeter.start}. */
  stop(): CpuSplit {
    const wallSec = (performance.now() - this.#t0) / 1000;
    const [servers, gen, busy, sys] = this.#read();
    const serverParts = servers.map((sec, i) => sec - this.#servers0[i]);
    const serverSec = serverParts.reduce((a, b) => a + b, 0);
    const generatorSec = gen - this.#gen0;
    return {
      wallSec,
      serverSec,
      serverParts,
      serverSysSec: sys - this.#serverSys0,
      generatorSec,
      restSec: Math.max(0, busy - this.#busy0 - serverSec - generatorSec),
    };
  }
}

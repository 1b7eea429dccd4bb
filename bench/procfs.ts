/**
 * What the benchmark reads from Linux's `/proc`: a process's CPU time and
 * resident memory, and the whole machine's CPU time, so each step can say
 * how much CPU the server, the generator and everything else used.
 *
 * @module
 */

/** Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`). */
export const CLOCK_TICKS_PER_SEC = 100;

/** CPU seconds (user + system) a process has used so far, or NaN if gone. */
export function processCpuSec(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces: split after its ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15, so 11 and 12 after the name.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SEC;
  } catch {
    return NaN;
  }
}

/** Resident memory of a process in KiB (`VmRSS`), or NaN if gone. */
export function processRssKiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine, summed over every core. */
export function machineBusyCpuSec(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0];
  // cpu user nice system idle iowait irq softirq steal guest guest_nice;
  // guest time is already counted in user.
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(
    /\s+/,
  ).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_SEC;
}

/** Number of CPUs the machine has online. */
export function cpuCount(): number {
  return Deno.readTextFileSync("/proc/stat").split("\n").filter((l) =>
    /^cpu\d+ /.test(l)
  ).length;
}

/** The CPU model name, as `/proc/cpuinfo` gives it. */
export function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    return /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** CPU used by each party during one step of the benchmark. */
export interface CpuSplit {
  /** Wall time of the step in seconds. */
  wallSec: number;
  /** CPU seconds of the server process. */
  serverSec: number;
  /** CPU seconds of the load generator processes and the orchestrator. */
  generatorSec: number;
  /** CPU seconds of everything else on the machine. */
  restSec: number;
}

/** Measures CPU per party between `start()` and `stop()`. */
export class CpuMeter {
  readonly #server: number;
  readonly #generators: () => number[];
  #t0 = 0;
  #server0 = 0;
  #gen0 = 0;
  #busy0 = 0;

  constructor(serverPid: number, generatorPids: () => number[]) {
    this.#server = serverPid;
    this.#generators = generatorPids;
  }

  #generatorSec(): number {
    let sum = processCpuSec(Deno.pid);
    for (const pid of this.#generators()) sum += processCpuSec(pid) || 0;
    return sum;
  }

  /** Takes the starting readings. */
  start(): void {
    this.#t0 = performance.now();
    this.#server0 = processCpuSec(this.#server);
    this.#gen0 = this.#generatorSec();
    this.#busy0 = machineBusyCpuSec();
  }

  /** The CPU used since {@linkcode CpuMeter.start}. */
  stop(): CpuSplit {
    const wallSec = (performance.now() - this.#t0) / 1000;
    const serverSec = processCpuSec(this.#server) - this.#server0;
    const generatorSec = this.#generatorSec() - this.#gen0;
    const busy = machineBusyCpuSec() - this.#busy0;
    return {
      wallSec,
      serverSec,
      generatorSec,
      restSec: Math.max(0, busy - serverSec - generatorSec),
    };
  }
}

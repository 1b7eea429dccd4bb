/**
 * Summarises V8 CPU profiles (`--cpu-prof`) of the servers: the functions
 * with the most self time, so a missed CPU target shows where the time goes.
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * The top functions by self time of every profile in `dir` (one folder per
 * server), as text. The profiles cover the JavaScript thread only: kernel
 * time and Deno's I/O threads show in the process CPU, not here.
 */
export async function summarizeProfiles(
  dir: string,
  top = 15,
): Promise<string> {
  const out: string[] = [];
  const files: string[] = [];
  for await (const sub of Deno.readDir(dir)) {
    if (!sub.isDirectory) continue;
    for await (const entry of Deno.readDir(`${dir}/${sub.name}`)) {
      if (entry.name.endsWith(".cpuprofile")) {
        files.push(`${sub.name}/${entry.name}`);
      }
    }
  }
  for (const file of files.sort()) {
    const profile = JSON.parse(
      await Deno.readTextFile(`${dir}/${file}`),
    ) as CpuProfile;
    const byNode = new Map<number, ProfileNode>();
    for (const node of profile.nodes) byNode.set(node.id, node);
    const self = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      const frame = byNode.get(id)?.callFrame;
      const where = frame?.url.split("/").slice(-2).join("/") ?? "";
      const name = frame
        ? `${frame.functionName || "(anonymous)"} ${where}:${
          frame.lineNumber + 1
        }`
        : "?";
      self.set(name, (self.get(name) ?? 0) + dt);
      total += dt;
    });
    const idle = self.get("(idle) :0") ?? 0;
    out.push(
      `Profile ${file}: ${(total / 1000).toFixed(0)} ms sampled, ${
        ((total - idle) / 1000).toFixed(0)
      } ms busy; top self time (% of busy):`,
    );
    const rows = [...self.entries()].filter(([name]) => name !== "(idle) :0")
      .sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [name, t] of rows) {
      out.push(
        `  ${
          (t / Math.max(1, total - idle) * 100).toFixed(1).padStart(5)
        }%  ${name}`,
      );
    }
  }
  return out.length ? out.join("\n") : `No CPU profiles in ${dir}`;
}

/**
 * The folders depend only downward: `main.ts` → `signaling/` → `storage/`;
 * `public/` may use only the protocol module of `signaling/` (its tests
 * also `testing/`); `tests/` and
 * `bench/` share their helpers through `testing/`, not through each other;
 * and no two modules import each other, however indirectly.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SKIP = new Set([
  "node_modules",
  "dist",
  "data",
  "test-artifacts",
  ".git",
]);
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^"'`;]*?["']([^"']+)["']/g;

/** Every .ts and .tsx file of the repository, relative to its root. */
async function sources(dir = ROOT): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (SKIP.has(entry.name) || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory) found.push(...await sources(path));
    else if (/\.tsx?$/.test(entry.name)) found.push(relative(ROOT, path));
  }
  return found;
}

/** Each source file's relative imports, as paths from the root. */
async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const file of await sources()) {
    const text = await Deno.readTextFile(join(ROOT, file));
    const targets: string[] = [];
    for (const [, specifier] of text.matchAll(IMPORT)) {
      if (!specifier.startsWith(".")) continue;
      targets.push(relative(ROOT, join(ROOT, dirname(file), specifier)));
    }
    graph.set(file, targets);
  }
  return graph;
}

const folderOf = (path: string) =>
  path.includes("/") ? path.slice(0, path.indexOf("/")) : ".";
const isTestOrBench = (path: string) => /_(test|bench)\.tsx?$/.test(path);

/** Why `from` may not import `to`, or undefined if it may. */
function forbidden(from: string, to: string): string | undefined {
  const a = folderOf(from);
  const b = folderOf(to);
  if (a === b) return undefined;
  if (b === "tests") return "only tests/ imports tests/";
  if (a === "storage" && !isTestOrBench(from)) {
    return "storage/ imports nothing of the other folders";
  }
  if (a === "signaling" && b !== "storage") {
    if (b === "testing" && isTestOrBench(from)) return undefined;
    return "signaling/ imports only storage/";
  }
  if (a === "public" && b === "testing" && isTestOrBench(from)) {
    return undefined;
  }
  if (
    a === "public" && !(b === "signaling" && to === "signaling/protocol.ts")
  ) {
    return "public/ imports only signaling/protocol.ts";
  }
  if (a === "bench" && !["testing", "signaling", "storage"].includes(b)) {
    return "bench/ imports only testing/ and the server's modules";
  }
  if (a === "testing") return "testing/ imports nothing of the other folders";
  return undefined;
}

Deno.test("imports go only downward between folders", async () => {
  const graph = await importGraph();
  const wrong: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const why = forbidden(from, to);
      if (why) wrong.push(`${from} -> ${to}: ${why}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("no module imports itself through others (no import cycle)", async () => {
  const graph = await importGraph();
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") {
        cycles.push([...stack.slice(stack.indexOf(next)), next].join(" -> "));
      } else if (!state.has(next)) {
        visit(next);
      }
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  assert.deepEqual(cycles, []);
  // The walk sees the imports it is meant to judge.
  assert.ok(graph.get("signaling/hub.ts")?.includes("signaling/connection.ts"));
});

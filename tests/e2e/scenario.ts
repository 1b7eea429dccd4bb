/**
 * One end-to-end scenario, run inside a loopback-only network and PID
 * namespace by `tests/e2e_test.ts`:
 *
 *     deno run -A tests/e2e/scenario.ts <name> <artifacts dir>
 *
 * It starts `main.ts` (and coturn or PulseAudio when the scenario needs
 * them), headless Chromium and Firefox browsers with fake microphones,
 * drives the real UI by accessible names, proves audio from `getStats()` and
 * from what each page plays, and prints one line `RESULT {json}` with the
 * checks passed and the measurements. Exit code 0 means every check passed.
 *
 * @module
 */
import { join } from "node:path";
import { type SpawnedServer, spawnServer } from "../support/server.ts";
import { deadline } from "../support/wait.ts";
import { type PulseAudio, startPulseAudio } from "./firefox.ts";
import { SCENARIOS } from "./scenarios.ts";
import { PEER_SCENARIOS } from "./peer_scenarios.ts";
import { HOST_SCENARIOS } from "./host_scenarios.ts";
import type { TestPage } from "./page.ts";
import { assert, startTurn } from "./steps.ts";

/** What a scenario reports. */
export interface ScenarioResult {
  ok: boolean;
  checks: string[];
  metrics: Record<string, number | string>;
  error?: string;
  logs?: string[];
}

const [name, artifacts = "test-artifacts"] = Deno.args;
const result: ScenarioResult = { ok: false, checks: [], metrics: {} };
const SCENARIO_TIMEOUT_MS = 170_000;

async function run(): Promise<void> {
  const scenario = SCENARIOS[name] ?? PEER_SCENARIOS[name] ??
    HOST_SCENARIOS[name];
  if (!scenario) throw new Error(`unknown scenario ${name}`);
  const netdev = await Deno.readTextFile("/proc/net/dev");
  const interfaces = netdev.split("\n").slice(2).map((l) =>
    l.split(":")[0].trim()
  ).filter(Boolean);
  assert(
    interfaces.length === 1 && interfaces[0] === "lo",
    `not in a loopback-only network: ${interfaces}`,
  );
  const tmp = await Deno.makeTempDir({ prefix: "parley-e2e-" });
  const pages: TestPage[] = [];
  let server: SpawnedServer | undefined;
  try {
    await using stack = new AsyncDisposableStack();
    const turn = scenario.turn ? stack.use(await startTurn(tmp)) : undefined;
    const turnEnv = scenario.turn === "refused"
      ? { ...turn?.env, TURN_SECRET: `not-${crypto.randomUUID()}` }
      : turn?.env;
    const env = {
      DATABASE_URL: `file:${join(tmp, "parley.db")}`,
      ...turnEnv,
      ...scenario.env,
    };
    server = await spawnServer({ env });
    let pulse: Promise<PulseAudio> | undefined;
    const replaced = await scenario.run({
      tmp,
      artifacts,
      env,
      server,
      metrics: result.metrics,
      pass(check) {
        result.checks.push(check);
        console.error(`ok: ${check}`);
      },
      watch: (...more) => void pages.push(...more),
      pulse: () => pulse ??= startPulseAudio(tmp).then((p) => stack.use(p)),
    });
    if (replaced) server = replaced;
    result.ok = true;
  } catch (error) {
    // What each page looked like when it failed, for the artifacts.
    await Deno.mkdir(artifacts, { recursive: true }).catch(() => {});
    for (const page of pages) {
      await page.screenshot(join(artifacts, `failed-${name}-${page.label}.png`))
        .catch(() => {});
    }
    throw error;
  } finally {
    // Live arrays: errors logged late in the scenario are here too.
    result.logs = pages.flatMap((p) => p.errors).slice(0, 60);
    await server?.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

try {
  await deadline(run(), `scenario ${name}`, SCENARIO_TIMEOUT_MS);
} catch (error) {
  result.ok = false;
  result.error = error instanceof Error ? error.stack ?? error.message : String(
    error,
  );
}
console.log(`RESULT ${JSON.stringify(result)}`);
Deno.exit(result.ok ? 0 : 1);

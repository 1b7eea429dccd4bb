/**
 * End-to-end tests of the browser client: real headless Chromium with fake
 * microphones, the real server, real WebRTC, all inside a fresh network and
 * PID namespace that only has loopback (see `tests/e2e/README.md`). Each
 * test runs one scenario of `tests/e2e/scenario.ts` in its own namespace and
 * checks what it reports; the namespace's PID 1 takes every browser and
 * server with it when it exits.
 *
 * Without Chromium, sox, unshare or root (or coturn, for the relay test)
 * the tests are skipped, except on CI (`CI=true`), where a missing
 * prerequisite fails them.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CHROMIUM } from "./e2e/chromium.ts";
import type { ScenarioResult } from "./e2e/scenario.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ARTIFACTS = `${ROOT}test-artifacts`;
const SCENARIO = fileURLToPath(new URL("./e2e/scenario.ts", import.meta.url));
const NAMESPACE_TIMEOUT_MS = 120_000;

function onPath(command: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${command}`).isFile) return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}

function missingPrerequisites(): string[] {
  const missing: string[] = [];
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    missing.push(`chromium (${CHROMIUM})`);
  }
  for (const command of ["sox", "unshare", "ip", "bash"]) {
    if (!onPath(command)) missing.push(command);
  }
  if (Deno.uid() !== 0) missing.push("root (for unshare --net)");
  return missing;
}

const missing = missingPrerequisites();
const onCi = Deno.env.get("CI") === "true";
const ignore = missing.length > 0 && !onCi;
if (ignore) {
  console.warn(`e2e: skipped, missing ${missing.join(", ")}`);
}

/** Runs `scenario` in a loopback-only namespace and returns its report. */
async function runScenario(scenario: string): Promise<ScenarioResult> {
  assert.deepEqual(missing, [], `missing prerequisites: ${missing}`);
  const script =
    `ip link set lo up; "${Deno.execPath()}" run -A "${SCENARIO}" ${scenario} "${ARTIFACTS}"`;
  const child = new Deno.Command("unshare", {
    args: [
      "--net",
      "--pid",
      "--fork",
      "--kill-child",
      "--mount-proc",
      "--",
      "bash",
      "-c",
      script,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, NAMESPACE_TIMEOUT_MS);
  const output = await child.output();
  clearTimeout(timer);
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) {
    throw new Error(
      `scenario ${scenario} reported nothing (exit ${output.code}):\n${stdout}\n${stderr}`,
    );
  }
  const result = JSON.parse(line.slice("RESULT ".length)) as ScenarioResult;
  if (!result.ok) {
    throw new Error(
      `scenario ${scenario} failed after: ${
        result.checks.join("; ")
      }\n${result.error}\n${(result.logs ?? []).join("\n")}\n${stderr}`,
    );
  }
  assert.equal(output.code, 0);
  return result;
}

Deno.test({
  name:
    "client joins two then three browsers through the UI; audio flows every way, Mute silences, Leave removes",
  ignore,
  async fn() {
    const result = await runScenario("mesh");
    for (const check of result.checks) console.log(`  ✓ ${check}`);
    console.log(
      `  Join click → first inbound audio packet: ${result.metrics.joinToFirstAudioMs} ms`,
    );
    assert.ok(result.checks.length >= 8);
  },
});

Deno.test({
  name:
    "client keeps the call playing through a server SIGKILL and resumes the same peer IDs without a reload",
  ignore,
  async fn() {
    const result = await runScenario("restart");
    for (const check of result.checks) console.log(`  ✓ ${check}`);
    assert.ok(result.checks.length >= 4);
  },
});

Deno.test({
  name:
    "client says when a room is full, hands a session to another tab (hello) and rejoins after a reload",
  ignore,
  async fn() {
    const result = await runScenario("session");
    for (const check of result.checks) console.log(`  ✓ ${check}`);
    assert.ok(result.checks.length >= 5);
  },
});

Deno.test({
  name:
    "client in Private mode (relay only) sends audio through coturn and shows the path as relayed",
  ignore: (missing.length > 0 || !onPath("turnserver")) && !onCi,
  async fn() {
    assert.ok(onPath("turnserver"), "missing prerequisite: turnserver");
    const result = await runScenario("relay");
    for (const check of result.checks) console.log(`  ✓ ${check}`);
    assert.ok(result.checks.length >= 2);
  },
});

Deno.test({
  name:
    "client in Private mode says why when the server's TURN secret does not match coturn's",
  ignore: (missing.length > 0 || !onPath("turnserver")) && !onCi,
  async fn() {
    assert.ok(onPath("turnserver"), "missing prerequisite: turnserver");
    const result = await runScenario("relay-refused");
    for (const check of result.checks) console.log(`  ✓ ${check}`);
    assert.ok(result.checks.length >= 2);
  },
});

Deno.test("client bundle stays under 40 KB gzipped", async () => {
  const js = await Deno.readFile(`${ROOT}public/dist/app.js`);
  const gzipped = await new Response(
    new Blob([js]).stream().pipeThrough(new CompressionStream("gzip")),
  ).arrayBuffer();
  console.log(
    `  app.js: ${js.length} bytes, ${gzipped.byteLength} bytes gzipped`,
  );
  assert.ok(gzipped.byteLength < 40 * 1024);
});

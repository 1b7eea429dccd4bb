/**
 * End-to-end tests of the browser client: real headless Chromium with fake
 * microphones, the real server, real WebRTC, all inside a fresh network and
 * PID namespace that only has loopback (see `tests/e2e/README.md`). Each
 * test runs one scenario of `tests/e2e/scenario.ts` in its own namespace and
 * checks what it reports; the namespace's PID 1 takes every browser and
 * server with it when it exits.
 *
 * The `firefox-*` scenarios put stock Firefox ESR (over WebDriver BiDi) in
 * the call with Chromium or another Firefox.
 *
 * Without Chromium, sox, unshare or root (or coturn for the relay tests,
 * Firefox ESR and PulseAudio for the Firefox ones) the tests are skipped,
 * except on CI (`CI=true`), where a missing prerequisite fails them.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CHROMIUM, FIREFOX } from "../testing/browser_paths.ts";
import type { ScenarioResult } from "./e2e/scenario.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ARTIFACTS = `${ROOT}test-artifacts`;
const SCENARIO = fileURLToPath(new URL("./e2e/scenario.ts", import.meta.url));
const NAMESPACE_TIMEOUT_MS = 200_000;

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

/** What the Firefox scenarios need beyond the Chromium ones. */
function missingForFirefox(): string[] {
  const lacking: string[] = [];
  try {
    Deno.statSync(FIREFOX);
  } catch {
    lacking.push(`firefox-esr (${FIREFOX})`);
  }
  if (!onPath("pulseaudio")) lacking.push("pulseaudio");
  return lacking;
}

const missing = missingPrerequisites();
const onCi = Deno.env.get("CI") === "true";
const ignore = missing.length > 0 && !onCi;
if (ignore) {
  console.warn(`e2e: skipped, missing ${missing.join(", ")}`);
}

/** Runs `scenario` in a loopback-only namespace and returns its report. */
async function runScenario(
  scenario: string,
  options: { firefox?: boolean } = {},
): Promise<ScenarioResult> {
  // Firefox gathers no candidates at all without a default route; this one
  // still leads only to lo, so nothing can leave the namespace.
  const routes = options.firefox
    ? "ip route add default dev lo src 127.0.0.1; ip -6 route add default dev lo; "
    : "";
  const script =
    `ip link set lo up; ${routes}"${Deno.execPath()}" run -A "${SCENARIO}" ${scenario} "${ARTIFACTS}"`;
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

/** Runs `scenario` as one test that passes with at least `minChecks`. */
function scenarioTest(
  name: string,
  scenario: string,
  minChecks: number,
  needs: { turn?: boolean; firefox?: boolean; redis?: boolean } = {},
): void {
  const lacking = [
    ...missing,
    ...(needs.turn && !onPath("turnserver") ? ["turnserver"] : []),
    ...(needs.redis && !onPath("redis-server") ? ["redis-server"] : []),
    ...(needs.firefox ? missingForFirefox() : []),
  ];
  Deno.test({
    name,
    ignore: lacking.length > 0 && !onCi,
    async fn() {
      assert.deepEqual(lacking, [], `missing prerequisites: ${lacking}`);
      const result = await runScenario(scenario, { firefox: needs.firefox });
      for (const check of result.checks) console.log(`  ✓ ${check}`);
      for (const [key, value] of Object.entries(result.metrics)) {
        console.log(`  ${key}: ${value}`);
      }
      assert.ok(result.checks.length >= minChecks);
    },
  });
}

scenarioTest(
  "client joins two then three browsers through the UI; audio flows every way, Mute silences, Leave removes",
  "mesh",
  8,
);
scenarioTest(
  "client keeps the call playing through a server SIGKILL and resumes the same peer IDs without a reload",
  "restart",
  4,
);
scenarioTest(
  "client says when a room is full, hands a session to another tab (hello) and rejoins after a reload (shown as reconnecting meanwhile)",
  "session",
  6,
);
scenarioTest(
  "client in Private mode (relay only) sends audio through coturn and shows the path as relayed",
  "relay",
  2,
  { turn: true },
);
scenarioTest(
  "client in Private mode says why when the server's TURN secret does not match coturn's",
  "relay-refused",
  2,
  { turn: true },
);
scenarioTest(
  "client treats a connection that never starts checking as failed: says why, tries one fresh connection, ends failed; Try again tries once more",
  "unusable-candidates",
  4,
);
scenarioTest(
  "client passes axe-core's WCAG 2.1 A and AA rules on the start page, a call of three and the settings dialog, light and dark; M mutes; the dialog keeps and returns focus",
  "a11y",
  4,
);
scenarioTest(
  "client keeps handling a peer's signals after one step fails, and starts over with a hello",
  "signal-step-fails",
  1,
);
scenarioTest(
  "client: three browsers chat and raise hands peer to peer; a late joiner sees a raised hand; 500/501-character limit; no chat text in the server's log or database",
  "chat",
  6,
);
scenarioTest(
  "client: the chat scenario with the server on Redis: no chat text in its log or Redis's append-only file",
  "chat-redis",
  6,
  { redis: true },
);
scenarioTest(
  "client: the creator hosts and locks the room; a knocker waits and is admitted; a removed member must knock again and is denied; the host leaves and the right passes on",
  "host-lock",
  7,
);
scenarioTest(
  "client: host controls with two instances on one Redis: the host on one instance admits a knocker on the other",
  "host-lock-redis",
  7,
  { redis: true },
);
scenarioTest(
  "Firefox knocks on a Chromium host's locked room, is admitted, hears both, and hosts once the host leaves",
  "firefox-host-lock",
  7,
  { firefox: true },
);
scenarioTest(
  "client: two browsers show the same safety code (that of the negotiated fingerprints) and pass the automatic check with the link's secret",
  "safety-code",
  3,
);
scenarioTest(
  "Chromium and Firefox show the same safety code and pass the automatic check with the link's secret",
  "firefox-safety-code",
  3,
  { firefox: true },
);
scenarioTest(
  "client: a man in the middle (a proxy diverting signals to a bridging page) makes the safety codes differ and the warning appear, at once with the link's secret",
  "mitm",
  3,
);
scenarioTest(
  "client without WebRTC shows its alert once, before and after Join",
  "no-webrtc",
  1,
);
scenarioTest(
  "client copes with Safari's limits: no setSinkId or codec preferences, play() refused until a tap, AudioContext suspended",
  "safari",
  3,
);
scenarioTest(
  "Firefox creates the room, Chromium joins: both hear the other's tone, stats panels live, Mute both ways, Leave",
  "firefox-first",
  5,
  { firefox: true },
);
scenarioTest(
  "Chromium creates the room, Firefox joins: both hear the other's tone, stats panels live, Mute both ways, Leave",
  "firefox-second",
  5,
  { firefox: true },
);
scenarioTest(
  "Firefox and Firefox: both hear the other's tone, stats panels live, Mute both ways, Leave",
  "firefox-firefox",
  5,
  { firefox: true },
);
scenarioTest(
  "three-way mesh of two Chromium and one Firefox: every peer hears every other's tone; Leave",
  "firefox-mesh",
  3,
  { firefox: true },
);
scenarioTest(
  "Firefox and Chromium keep the call playing through a server SIGKILL and resume the same peer IDs",
  "firefox-restart",
  4,
  { firefox: true },
);
scenarioTest(
  "Firefox and Chromium in Private mode talk through coturn: relay/relay both ways",
  "firefox-relay",
  2,
  { firefox: true, turn: true },
);

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
scenarioTest(
  "client's opt-in RNNoise filter loads only when switched on, removes background noise for the listener, and stops when switched off",
  "noise-filter",
  2,
);
scenarioTest(
  "Firefox runs the opt-in noise filter and the far side keeps receiving its audio",
  "firefox-noise-filter",
  1,
  { firefox: true },
);

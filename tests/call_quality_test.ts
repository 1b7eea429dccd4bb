/**
 * One short call on an impaired network: two headless Chromium browsers
 * talk through Parley inside a loopback-only network and PID namespace,
 * with the impairment lab of `bench/impair/` dropping 10% of UDP packets,
 * then all of them for 15 s. The scenario (`bench/calls/call_lab.ts test`)
 * checks functional facts only, never timings: plain Opus on a clean
 * network, sent with DTX, RED negotiated both ways under loss where the browser can prefer
 * it, audio still flowing under loss, audio back after the outage with
 * exactly one ICE restart.
 *
 * Skipped without its prerequisites (Chromium, sox, espeak-ng, gcc and
 * libnetfilter-queue-dev, iptables, tc, unshare, root), except on CI
 * (`CI=true`), where a missing prerequisite fails it.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CHROMIUM } from "../testing/browser_paths.ts";
import type { LabResult } from "../bench/calls/call_lab.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LAB = fileURLToPath(
  new URL("../bench/calls/call_lab.ts", import.meta.url),
);
const NAMESPACE_TIMEOUT_MS = 150_000;

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
  for (
    const path of [
      CHROMIUM,
      "/usr/include/libnetfilter_queue/libnetfilter_queue.h",
    ]
  ) {
    try {
      Deno.statSync(path);
    } catch {
      missing.push(path);
    }
  }
  for (
    const command of [
      "sox",
      "espeak-ng",
      "gcc",
      "iptables",
      "tc",
      "unshare",
      "ip",
      "bash",
    ]
  ) {
    if (!onPath(command)) missing.push(command);
  }
  if (Deno.uid() !== 0) missing.push("root (for unshare --net)");
  return missing;
}

const missing = missingPrerequisites();
const onCi = Deno.env.get("CI") === "true";
if (missing.length > 0 && !onCi) {
  console.warn(`call quality: skipped, missing ${missing.join(", ")}`);
}

Deno.test({
  name:
    "client sends plain Opus with DTX on a clean network, asks for RED under 10% loss, keeps audio flowing, and recovers from a 15 s outage with one ICE restart",
  ignore: missing.length > 0 && !onCi,
  async fn() {
    assert.deepEqual(missing, [], `missing prerequisites: ${missing}`);
    // iptables and tc run only inside this fresh namespace (the lab also
    // refuses to run where any interface but lo exists).
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
        `ip link set lo up; "${Deno.execPath()}" run -A "${LAB}" test "${ROOT}test-artifacts"`,
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
    assert.ok(
      line,
      `the lab reported nothing (exit ${output.code}):\n${stderr}`,
    );
    const result = JSON.parse(line.slice("RESULT ".length)) as LabResult;
    assert.ok(
      result.ok,
      `failed after: ${result.checks.join("; ")}\n${result.error}\n${
        (result.logs ?? []).join("\n")
      }`,
    );
    for (const check of result.checks) console.log(`  ✓ ${check}`);
    console.log(
      `  recovery ${result.metrics.recoveryMs} ms after the network returned (a figure, not a check)`,
    );
    assert.equal(result.checks.length, 7);
    assert.equal(result.metrics.iceRestarts, 1);
    assert.equal(output.code, 0);
  },
});

/**
 * The compiled binary's permission set, checked without `deno compile` (it
 * downloads its runtime, and this machine is offline): `main.ts` runs under
 * exactly the permission flags of the `compile` task, read from deno.json,
 * from a working directory that holds none of the repository, the way the
 * binary runs on a server. Anything the server touches outside that set
 * (an env variable, a file) fails here before it fails in production.
 *
 * @module
 */
import { type CommandResult, runCommand } from "./support/command.ts";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import denoJson from "../deno.json" with { type: "json" };
import { flagName, OPTIONS } from "../signaling/config.ts";
import { tempDir } from "./support/server.ts";
import { deadline } from "./support/wait.ts";
import { joinPeers } from "./support/ws_client.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const COMPILE = denoJson.tasks.compile.command;

/**
 * The flags of the compile task that shape the runtime: permissions and
 * unstable features. `--output`, the entry point and the like are left out.
 */
function runtimeFlags(command: string): string[] {
  const words = command.trim().split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "compile"]);
  return words.filter((w) => /^--(allow|deny|unstable)-/.test(w));
}

const FLAGS = runtimeFlags(COMPILE);

/** The names in the compile task's `--allow-env=`, or throws if unlisted. */
function allowedEnv(): string[] {
  const flag = FLAGS.find((f) => f.startsWith("--allow-env"));
  assert.ok(flag, "the compile task allows some environment variables");
  assert.ok(flag.startsWith("--allow-env="), "--allow-env names a list");
  return flag.slice("--allow-env=".length).split(",");
}

/**
 * What the child inherits: only what Deno itself needs to find its cache,
 * so a stray PORT or DEBUG in the test's environment changes nothing.
 */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Runs main.ts to completion under the compile task's flags in `cwd`. */
function runMain(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CommandResult> {
  return runCommand(Deno.execPath(), ["run", ...FLAGS, MAIN, ...args], {
    cwd,
    env: { ...baseEnv(), ...env },
    clearEnv: true,
  });
}

Deno.test("compile task allows every configuration variable and reads only data dirs", () => {
  const allowed = allowedEnv();
  const missing = OPTIONS.map((o) => o.env).filter((name) =>
    !allowed.includes(name)
  );
  assert.deepEqual(missing, [], "add these to --allow-env in deno.json");
  assert.ok(FLAGS.includes("--allow-net"));
  assert.ok(FLAGS.includes("--allow-read=data,/var/lib/parley"));
  assert.ok(FLAGS.includes("--allow-write=data,/var/lib/parley"));
  assert.ok(
    !FLAGS.some((f) => /^--allow-(all|run|ffi|sys)\b/.test(f)),
    "no broad permissions in the production set",
  );
  assert.match(COMPILE, /--output parley main\.ts$/);
});

Deno.test("main.ts --help under the compile permissions lists every option", async () => {
  await using cwd = await tempDir();
  const { code, stdout, stderr } = await runMain(cwd.path, ["--help"]);
  assert.equal(code, 0, stderr);
  for (const spec of OPTIONS) {
    assert.ok(
      stdout.includes(`  ${flagName(spec)}`),
      `--help lists ${flagName(spec)} (${spec.env})`,
    );
  }
  assert.match(stdout, /environment variable/);
});

Deno.test("main.ts stops at start when an ALLOWED_ORIGINS entry has no scheme", async () => {
  await using cwd = await tempDir();
  const { code, stdout, stderr } = await runMain(cwd.path, [], {
    ALLOWED_ORIGINS: "example.com",
    PORT: "0",
    DATABASE_URL: ":memory:",
  });
  assert.equal(code, 2, stdout + stderr);
  assert.match(stderr, /ALLOWED_ORIGINS/);
  assert.match(stderr, /"example\.com"/);
  assert.doesNotMatch(stdout, /listening/);
});

Deno.test("main.ts --version under the compile permissions prints deno.json's version", async () => {
  await using cwd = await tempDir();
  const { code, stdout, stderr } = await runMain(cwd.path, ["--version"]);
  assert.equal(code, 0, stderr);
  assert.equal(stdout, `parley ${denoJson.version}\n`);
});

/** Collects the remaining stderr lines into `logs` until the stream ends. */
async function drain(
  lines: AsyncIterator<string>,
  logs: string[],
): Promise<void> {
  while (true) {
    const { value, done } = await lines.next();
    if (done) return;
    logs.push(value);
  }
}

/** Reads stderr lines until the `listening` log line; returns its URL. */
async function waitListening(
  lines: AsyncIterator<string>,
  logs: string[],
): Promise<string> {
  while (true) {
    const { value, done } = await lines.next();
    if (done) throw new Error(`main.ts exited:\n${logs.join("\n")}`);
    logs.push(value);
    try {
      const entry = JSON.parse(value);
      if (entry.event === "listening") return entry.url;
    } catch {
      // Not a log line: kept for the failure message.
    }
  }
}

Deno.test("main.ts under the compile permissions serves the page, /health and signaling", async (t) => {
  await using cwd = await tempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, MAIN],
    cwd: cwd.path,
    env: {
      ...baseEnv(),
      HOST: "127.0.0.1",
      PORT: "0",
      // Relative to the temporary cwd, inside the allowed "data".
      DATABASE_URL: "file:data/parley.db",
      STUN_URLS: "",
    },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let exited = false;
  const status = child.status.finally(() => exited = true);
  const logs: string[] = [];
  const lines = child.stderr
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(
      new TransformStream<string, string>({
        transform(chunk, controller) {
          for (const line of chunk.split("\n")) {
            if (line !== "") controller.enqueue(line);
          }
        },
      }),
    )[Symbol.asyncIterator]();
  let pump: Promise<void> | undefined;
  try {
    const url = await deadline(
      waitListening(lines, logs),
      "main.ts to listen",
      30_000,
    );
    pump = drain(lines, logs);
    const origin = url.replace(/\/$/, "");

    await t.step("the page and the bundle are embedded", async () => {
      const page = await fetch(`${origin}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(await page.text(), /app\.js/);
      const js = await fetch(`${origin}/app.js`);
      assert.equal(js.status, 200);
      assert.match(js.headers.get("content-type") ?? "", /javascript/);
      assert.ok((await js.text()).length > 1000, "a real bundle");
    });

    await t.step("/health reports a writable database", async () => {
      const res = await fetch(`${origin}/health`);
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.status, "ok");
      assert.equal(body.version, denoJson.version);
      const db = await Deno.stat(`${cwd.path}/data/parley.db`);
      assert.ok(db.isFile, "the database is in the cwd's data/");
    });

    await t.step(
      "two peers join and a signal is relayed with from",
      async () => {
        const wsUrl = `${origin.replace(/^http/, "ws")}/ws`;
        await using peers = await joinPeers(wsUrl, "compile-room", ["a", "b"]);
        const [a, b] = peers.clients;
        const [idA, idB] = peers.ids;
        assert.deepEqual(peers.joined[1].peers.map((p) => p.peerId), [idA]);
        a.signal(idB, { sdp: { type: "offer", sdp: "v=0" } });
        const msg = await b.next("signal");
        assert.equal(msg.from, idA);
        assert.deepEqual(msg.data, { sdp: { type: "offer", sdp: "v=0" } });
      },
    );

    await t.step("SIGTERM shuts down cleanly", async () => {
      child.kill("SIGTERM");
      const { code } = await deadline(status, "main.ts to exit", 10_000);
      assert.equal(code, 0, logs.join("\n"));
    });
  } finally {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await deadline(status, "main.ts to exit");
    await deadline(pump ?? drain(lines, logs), "main.ts stderr to end");
  }
});

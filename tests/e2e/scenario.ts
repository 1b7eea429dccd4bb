/**
 * One end-to-end scenario, run inside a loopback-only network and PID
 * namespace by `tests/e2e_test.ts`:
 *
 *     deno run -A tests/e2e/scenario.ts <mesh|restart> <artifacts dir>
 *
 * It starts `main.ts` and headless Chromium browsers with fake microphones,
 * drives the real UI by accessible names, proves audio from `getStats()` on
 * recorded RTCPeerConnections, and prints one line `RESULT {json}` with the
 * checks passed and the measurements. Exit code 0 means every check passed.
 *
 * @module
 */
import { join } from "node:path";
import type { Page } from "playwright-core";
import { type SpawnedServer, spawnServer } from "../support/server.ts";
import { deadline, delay, eventually } from "../support/wait.ts";
import {
  inboundAudio,
  launchBrowser,
  makeTone,
  peerConnectionCount,
  type TestBrowser,
} from "./browser.ts";

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
const SCENARIO_TIMEOUT_MS = 100_000;

function pass(check: string): void {
  result.checks.push(check);
  console.error(`ok: ${check}`);
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Opens the app and joins through the UI; returns the Join click time. */
async function joinCall(
  b: TestBrowser,
  origin: string,
  options: { room?: string; name: string; screenshot?: string },
): Promise<{ room: string; clickedAt: number }> {
  const page = b.page;
  await page.goto(options.room ? `${origin}/r/${options.room}` : `${origin}/`);
  const roomBox = page.getByRole("textbox", { name: "Room", exact: true });
  if (options.room) {
    assert(
      await roomBox.inputValue() === options.room,
      `${b.label}: /r/<room> did not fill the Room field`,
    );
  } else {
    await page.getByRole("button", { name: "Create room" }).click();
  }
  const room = await roomBox.inputValue();
  await page.getByRole("textbox", { name: "Your name" }).fill(options.name);
  if (options.screenshot) {
    await page.getByRole("button", { name: "Test microphone" }).click();
    await page.getByRole("button", { name: "Microphone on" }).waitFor();
    await delay(300);
    await page.screenshot({ path: options.screenshot, fullPage: true });
    const size = page.viewportSize();
    await page.setViewportSize({ width: 360, height: 800 });
    await page.screenshot({
      path: options.screenshot.replace(/\.png$/, "-360.png"),
      fullPage: true,
    });
    if (size) await page.setViewportSize(size);
  }
  const clickedAt = performance.now();
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await page.locator('.app[data-phase="call"]').waitFor();
  return { room, clickedAt };
}

function selfId(page: Page): Promise<string> {
  return page.locator(".app").getAttribute("data-self-id").then((v) => v ?? "");
}

function listedPeers(page: Page): Promise<string[]> {
  return page.locator("li.person").evaluateAll((items) =>
    items.map((item) => (item as HTMLElement).dataset.peerId ?? "").sort()
  );
}

/**
 * Waits until `b` has `peers` open connections, each receiving audio:
 * packets and energy both rising between two samples a second apart.
 */
async function receivesAudioFromAll(
  b: TestBrowser,
  peers: number,
): Promise<void> {
  await eventually(
    async () => {
      const first = await inboundAudio(b.page);
      if (first.length !== peers) return false;
      await delay(1_000);
      const second = await inboundAudio(b.page);
      if (second.length !== peers) return false;
      return second.every((s, i) =>
        s.packetsReceived > first[i].packetsReceived &&
        s.totalAudioEnergy > first[i].totalAudioEnergy
      );
    },
    `${b.label} to receive audio from ${peers} peer(s)`,
    {
      timeoutMs: 25_000,
      intervalMs: 200,
    },
  );
}

/** Energy `b` receives (summed over its connections) during `ms`. */
async function energyOver(b: TestBrowser, ms: number): Promise<number> {
  const sum = (xs: { totalAudioEnergy: number }[]) =>
    xs.reduce((a, s) => a + s.totalAudioEnergy, 0);
  const before = sum(await inboundAudio(b.page));
  await delay(ms);
  return sum(await inboundAudio(b.page)) - before;
}

async function mesh(tmp: string, server: SpawnedServer): Promise<void> {
  const origin = server.origin;
  await using ada = await launchBrowser("ada", await makeTone(tmp, 440), tmp);
  await using grace = await launchBrowser(
    "grace",
    await makeTone(tmp, 1000),
    tmp,
  );
  try {
    const { room } = await joinCall(ada, origin, { name: "Ada" });
    assert(/^[A-Za-z0-9_-]{22}$/.test(room), `bad created room ID ${room}`);
    assert(
      new URL(ada.page.url()).pathname === `/r/${room}`,
      "Create room did not navigate to /r/<id>",
    );
    pass("Create room made a 22-character ID and navigated to /r/<id>");

    const { clickedAt } = await joinCall(grace, origin, {
      room,
      name: "Grace",
    });
    await eventually(
      async () =>
        (await inboundAudio(grace.page)).some((s) => s.packetsReceived > 0),
      "grace's first inbound audio packet",
      { timeoutMs: 20_000, intervalMs: 20 },
    );
    result.metrics.joinToFirstAudioMs = Math.round(
      performance.now() - clickedAt,
    );
    await receivesAudioFromAll(ada, 1);
    await receivesAudioFromAll(grace, 1);
    pass("two browsers: each receives audio from the other");

    // Steady tones are flattened by noise suppression and AGC: turn the
    // processing off through the app's own checkboxes (this also reopens
    // the microphone and replaces the sent track mid-call).
    for (
      const label of [
        "Echo cancellation",
        "Noise suppression",
        "Auto gain control",
      ]
    ) {
      await ada.page.getByRole("checkbox", { name: label }).uncheck();
    }
    await delay(1_500);
    await receivesAudioFromAll(grace, 1);
    pass("turning processing off keeps the call (replaceTrack)");
    const loud = await energyOver(grace, 1_500);
    const mute = ada.page.getByRole("button", { name: "Mute", exact: true });
    await mute.click();
    assert(
      await mute.getAttribute("aria-pressed") === "true",
      "Mute is not pressed",
    );
    await delay(500);
    const silent = await energyOver(grace, 1_500);
    await mute.click();
    await delay(500);
    const back = await energyOver(grace, 1_500);
    result.metrics.energyUnmuted = loud;
    result.metrics.energyMuted = silent;
    result.metrics.energyUnmutedAgain = back;
    assert(loud > 0, "no energy before muting");
    assert(silent < loud * 0.02, `energy kept flowing while muted: ${silent}`);
    assert(back > loud * 0.2, `energy did not come back after unmute: ${back}`);
    pass("Mute stops the energy the other receives; unmute restores it");

    await using lin = await launchBrowser(
      "lin",
      await makeTone(tmp, 660),
      tmp,
    );
    await Deno.mkdir(artifacts, { recursive: true });
    await joinCall(lin, origin, {
      room,
      name: "Lin",
      screenshot: join(artifacts, "start.png"),
    });
    for (const b of [ada, grace, lin]) await receivesAudioFromAll(b, 2);
    pass("three browsers: every peer receives audio from every other");

    const ids = await Promise.all([ada, grace, lin].map((b) => selfId(b.page)));
    for (const [i, b] of [ada, grace, lin].entries()) {
      const others = ids.filter((_, j) => j !== i).sort();
      await eventually(
        async () =>
          JSON.stringify(await listedPeers(b.page)) === JSON.stringify(others),
        `${b.label} to list the two others`,
      );
    }
    pass("each participant list shows the two others by peer ID");

    await Deno.mkdir(artifacts, { recursive: true });
    await delay(1_200); // one stats refresh with all three connected
    await ada.page.screenshot({
      path: join(artifacts, "in-call.png"),
      fullPage: true,
    });
    await ada.page.setViewportSize({ width: 360, height: 800 });
    await ada.page.screenshot({
      path: join(artifacts, "in-call-360.png"),
      fullPage: true,
    });
    const overflow = await ada.page.evaluate(() =>
      document.documentElement.scrollWidth -
      document.documentElement.clientWidth
    );
    assert(overflow <= 0, `the page scrolls sideways at 360 px (${overflow})`);
    await ada.page.setViewportSize({ width: 1100, height: 900 });
    pass("in-call screenshots written; no sideways scroll at 360 px");

    const linId = ids[2];
    await lin.page.getByRole("button", { name: "Leave" }).click();
    await lin.page.locator('.app[data-phase="start"]').waitFor();
    for (const b of [ada, grace]) {
      await eventually(
        async () => !(await listedPeers(b.page)).includes(linId),
        `${b.label} to drop Lin from the list`,
      );
    }
    pass("Leave removes the peer from the others' participant lists");
  } finally {
    result.logs = [...ada.errors, ...grace.errors].slice(0, 40);
  }
}

async function restart(
  tmp: string,
  env: Record<string, string>,
  first: SpawnedServer,
): Promise<SpawnedServer> {
  const origin = first.origin;
  await using ada = await launchBrowser("ada", await makeTone(tmp, 440), tmp);
  await using grace = await launchBrowser(
    "grace",
    await makeTone(tmp, 1000),
    tmp,
  );
  let second: SpawnedServer | undefined;
  try {
    const { room } = await joinCall(ada, origin, { name: "Ada" });
    await joinCall(grace, origin, { room, name: "Grace" });
    await receivesAudioFromAll(ada, 1);
    await receivesAudioFromAll(grace, 1);
    const before = await Promise.all(
      [ada, grace].map((b) => selfId(b.page)),
    );
    const pcsBefore = await Promise.all(
      [ada, grace].map((b) => peerConnectionCount(b.page)),
    );
    for (const b of [ada, grace]) {
      await b.page.evaluate(() =>
        (globalThis as unknown as { __same: boolean }).__same = true
      );
    }
    pass("two browsers in a call");

    first.kill("SIGKILL");
    await deadline(first.status, "the first server to die");
    for (const b of [ada, grace]) {
      await b.page.locator('.app[data-signaling="reconnecting"]').waitFor();
    }
    // Audio keeps flowing while there is no server at all.
    const samples: number[][] = [];
    for (let i = 0; i < 4; i++) {
      samples.push(
        (await Promise.all([ada, grace].map((b) => inboundAudio(b.page))))
          .map((s) => s[0]?.packetsReceived ?? 0),
      );
      await delay(500);
    }
    for (let i = 1; i < samples.length; i++) {
      assert(
        samples[i][0] > samples[i - 1][0] && samples[i][1] > samples[i - 1][1],
        `packets stopped while the server was down: ${JSON.stringify(samples)}`,
      );
    }
    pass("packets keep rising on both sides while the server is down");

    second = await eventually(
      () =>
        spawnServer({ env: { ...env, PORT: String(first.port) } }).catch(
          () => false as const,
        ),
      "the server to start again on the same port",
      { timeoutMs: 30_000, intervalMs: 300 },
    );
    for (const b of [ada, grace]) {
      await b.page.locator('.app[data-signaling="open"][data-phase="call"]')
        .waitFor({ timeout: 20_000 });
    }
    const after = await Promise.all([ada, grace].map((b) => selfId(b.page)));
    assert(
      JSON.stringify(after) === JSON.stringify(before),
      `peer IDs changed: ${before} -> ${after}`,
    );
    assert(
      JSON.stringify(await listedPeers(ada.page)) ===
          JSON.stringify([before[1]]) &&
        JSON.stringify(await listedPeers(grace.page)) ===
          JSON.stringify([before[0]]),
      "participant lists changed after the restart",
    );
    for (const b of [ada, grace]) {
      assert(
        await b.page.evaluate(() =>
          (globalThis as unknown as { __same?: boolean }).__same === true
        ),
        `${b.label} reloaded the page`,
      );
    }
    pass("both clients resumed with the same peer IDs, without a reload");
    const pcsAfter = await Promise.all(
      [ada, grace].map((b) => peerConnectionCount(b.page)),
    );
    assert(
      JSON.stringify(pcsAfter) === JSON.stringify(pcsBefore),
      `new RTCPeerConnections after the restart: ${pcsBefore} -> ${pcsAfter}`,
    );
    await receivesAudioFromAll(ada, 1);
    await receivesAudioFromAll(grace, 1);
    pass("the same connections still carry audio both ways after the restart");
    return second;
  } catch (error) {
    await second?.close();
    throw error;
  } finally {
    result.logs = [...ada.errors, ...grace.errors].slice(0, 40);
  }
}

/** A free TCP/UDP port number on loopback (for coturn). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts coturn on loopback with REST credentials (tests/e2e/README.md §5). */
async function startTurn(
  tmp: string,
): Promise<{ env: Record<string, string> } & AsyncDisposable> {
  const port = freePort();
  const secret = crypto.randomUUID();
  const minPort = 40000 + Math.floor(Math.random() * 20000);
  const child = new Deno.Command("turnserver", {
    args: [
      "-n",
      "--listening-ip=127.0.0.1",
      "--relay-ip=127.0.0.1",
      `--listening-port=${port}`,
      `--min-port=${minPort}`,
      `--max-port=${minPort + 99}`,
      "--use-auth-secret",
      `--static-auth-secret=${secret}`,
      "--realm=parley.test",
      // Loopback peers are for this test only, never for production.
      "--allow-loopback-peers",
      "--no-multicast-peers",
      "--fingerprint",
      "--no-cli",
      "--no-tls",
      "--no-dtls",
      `--pidfile=${join(tmp, "turn.pid")}`,
      `--userdb=${join(tmp, "turndb")}`,
      "--log-file=stdout",
      "--simple-log",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await eventually(async () => {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      return false;
    }
  }, "coturn to listen");
  return {
    env: {
      TURN_URLS: `turn:127.0.0.1:${port}?transport=udp`,
      TURN_SECRET: secret,
    },
    [Symbol.asyncDispose]: async () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.status;
    },
  };
}

/** Ada and Grace, both in Private mode (relay only), join one room. */
async function privateCall(
  tmp: string,
  origin: string,
): Promise<[TestBrowser, TestBrowser]> {
  await using stack = new AsyncDisposableStack();
  const ada = stack.use(
    await launchBrowser("ada", await makeTone(tmp, 440), tmp),
  );
  const grace = stack.use(
    await launchBrowser("grace", await makeTone(tmp, 1000), tmp),
  );
  for (const b of [ada, grace]) {
    await b.page.goto(`${origin}/`);
    await b.page.getByRole("checkbox", { name: "Private mode (relay only)" })
      .check();
  }
  const { room } = await joinCall(ada, origin, { name: "Ada" });
  await joinCall(grace, origin, { room, name: "Grace" });
  // Both are the caller's to dispose from here on.
  stack.move();
  return [ada, grace];
}

async function relay(tmp: string, origin: string): Promise<void> {
  const [ada, grace] = await privateCall(tmp, origin);
  await using _ada = ada;
  await using _grace = grace;
  try {
    await receivesAudioFromAll(ada, 1);
    await receivesAudioFromAll(grace, 1);
    const [adaPair] = await inboundAudio(ada.page);
    const [gracePair] = await inboundAudio(grace.page);
    for (const pair of [adaPair, gracePair]) {
      assert(
        pair.localCandidateType === "relay" &&
          pair.remoteCandidateType === "relay",
        `not relayed on both sides: ${JSON.stringify([adaPair, gracePair])}`,
      );
    }
    pass(
      "two browsers in Private mode talk through TURN: relay/relay both ways",
    );
    for (const b of [ada, grace]) {
      await b.page.locator("li.person .badge", { hasText: "relayed (TURN)" })
        .waitFor();
    }
    pass("both participant lists show the path as relayed (TURN)");
  } finally {
    result.logs = [...ada.errors, ...grace.errors].slice(0, 40);
  }
}

/**
 * The server mints credentials with a secret coturn does not share: in
 * Private mode no connection can be made, and the page must say why.
 */
async function relayRefused(tmp: string, origin: string): Promise<void> {
  const [ada, grace] = await privateCall(tmp, origin);
  await using _ada = ada;
  await using _grace = grace;
  try {
    for (const b of [ada, grace]) {
      await b.page.locator("li.person .warning", {
        hasText: "refused this server's credentials",
      }).waitFor({ timeout: 60_000 });
    }
    pass("with a wrong TURN secret the call fails and both pages say why");
    for (const b of [ada, grace]) {
      const packets = (await inboundAudio(b.page)).reduce(
        (sum, s) => sum + s.packetsReceived,
        0,
      );
      assert(
        packets === 0,
        `${b.label} received audio through a refused relay`,
      );
    }
    pass("no audio flowed");
  } finally {
    result.logs = [...ada.errors, ...grace.errors].slice(0, 40);
  }
}

/** Clicks the app's "play audio" button if the autoplay policy held audio. */
async function allowPlayback(page: Page): Promise<boolean> {
  const button = page.getByRole("button", { name: "Play the others' audio" });
  await delay(1_500);
  if (!(await button.isVisible())) return false;
  await button.click();
  return true;
}

async function session(tmp: string, server: SpawnedServer): Promise<void> {
  const origin = server.origin;
  await using ada = await launchBrowser("ada", await makeTone(tmp, 440), tmp);
  await using grace = await launchBrowser(
    "grace",
    await makeTone(tmp, 1000),
    tmp,
  );
  await using lin = await launchBrowser("lin", await makeTone(tmp, 660), tmp);
  // Errors of the second tab; the browsers' own lists grow as they run.
  const errors: string[] = [];
  try {
    const { room } = await joinCall(ada, origin, { name: "Ada" });
    await joinCall(grace, origin, { room, name: "Grace" });
    await receivesAudioFromAll(ada, 1);
    await receivesAudioFromAll(grace, 1);
    const adaId = await selfId(ada.page);
    const graceId = await selfId(grace.page);
    pass("two browsers in a room of at most two");

    await lin.page.goto(`${origin}/r/${room}`);
    await lin.page.getByRole("button", { name: "Join", exact: true }).click();
    const full = lin.page.getByRole("alert").filter({
      hasText: "room is full",
    });
    await full.waitFor();
    assert(
      await lin.page.locator('.app[data-phase="start"]').count() === 1,
      "a refused peer left the start page",
    );
    pass("a third peer is told the room is full");

    // The same session opened in a second tab: the server hands it over
    // (4501 to the first tab); the new tab has no connections, so it greets
    // Ada with hello and Ada offers afresh.
    const stored = await grace.page.evaluate(() =>
      sessionStorage.getItem("parley.session")
    );
    assert(stored, "no session in sessionStorage");
    const second = await grace.page.context().newPage();
    second.on("pageerror", (e) => errors.push(`grace-2: ${e.message}`));
    await second.goto(`${origin}/`);
    await second.evaluate((value) => {
      sessionStorage.setItem("parley.session", value);
    }, stored);
    await second.goto(`${origin}/r/${room}`);
    await second.locator('.app[data-phase="call"]').waitFor();
    assert(await selfId(second) === graceId, "the second tab got another ID");
    await grace.page.getByRole("alert").filter({ hasText: "another tab" })
      .waitFor();
    pass("the session moves to a second tab; the first says so and stops");

    const tab = { ...grace, label: "grace-2", page: second };
    const blocked = await allowPlayback(second);
    result.metrics.autoplayBlockedAfterResume = String(blocked);
    await receivesAudioFromAll(tab, 1);
    await receivesAudioFromAll(ada, 1);
    assert(
      JSON.stringify(await listedPeers(ada.page)) === JSON.stringify([graceId]),
      "Ada lists Grace more or less than once",
    );
    pass("hello: fresh connections both ways with the resumed tab");

    // A reload: pagehide sends leave on unload, the new page resumes the
    // same session with its token and says hello, and Grace offers afresh.
    await ada.page.reload();
    await ada.page.locator('.app[data-phase="call"]').waitFor();
    await allowPlayback(ada.page);
    await receivesAudioFromAll(ada, 1);
    await receivesAudioFromAll(tab, 1);
    const adaAfter = await selfId(ada.page);
    await eventually(
      async () =>
        JSON.stringify(await listedPeers(second)) ===
          JSON.stringify([adaAfter]),
      "Grace to list only the reloaded Ada",
    );
    assert(adaAfter === adaId, `the reload got a new peer ID: ${adaAfter}`);
    pass("a reloaded page resumes its peer ID and audio flows again");

    // Relay only on a server without TURN cannot work: say so plainly.
    await ada.page.getByRole("checkbox", { name: "Private mode (relay only)" })
      .check();
    await ada.page.reload();
    await ada.page.locator("li.person .warning", {
      hasText: "TURN server",
    }).waitFor();
    pass("relay only without a TURN server says a TURN server is needed");
  } finally {
    result.logs = [...ada.errors, ...grace.errors, ...errors, ...lin.errors]
      .slice(0, 40);
  }
}

async function run(): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "parley-e2e-" });
  const env = { DATABASE_URL: `file:${join(tmp, "parley.db")}` };
  let server: SpawnedServer | undefined;
  try {
    const netdev = await Deno.readTextFile("/proc/net/dev");
    const interfaces = netdev.split("\n").slice(2).map((l) =>
      l.split(":")[0].trim()
    ).filter(Boolean);
    assert(
      interfaces.length === 1 && interfaces[0] === "lo",
      `not in a loopback-only network: ${interfaces}`,
    );
    await using turn = name.startsWith("relay")
      ? await startTurn(tmp)
      : undefined;
    // relay-refused: the server signs with a secret coturn does not know.
    const turnEnv = name === "relay-refused"
      ? { ...turn?.env, TURN_SECRET: `not-${crypto.randomUUID()}` }
      : turn?.env;
    server = await spawnServer({
      env: name === "session"
        ? { ...env, MAX_ROOM_SIZE: "2" }
        : { ...env, ...turnEnv },
    });
    if (name === "mesh") await mesh(tmp, server);
    else if (name === "relay") await relay(tmp, server.origin);
    else if (name === "relay-refused") await relayRefused(tmp, server.origin);
    else if (name === "session") await session(tmp, server);
    else if (name === "restart") server = await restart(tmp, env, server);
    else throw new Error(`unknown scenario ${name}`);
    result.ok = true;
  } finally {
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

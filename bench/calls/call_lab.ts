/**
 * Calls between headless Chromium browsers through Parley over an impaired
 * loopback network, run inside a loopback-only network and PID namespace
 * (by `tests/call_quality_test.ts` and `bench/calls/run.ts`):
 *
 *     deno run -A bench/calls/call_lab.ts test <artifacts dir>
 *     deno run -A bench/calls/call_lab.ts bench <artifacts dir>
 *
 * `test` makes one short call with Parley's tuned audio path at 10% loss,
 * then a 15 s outage, and checks functional facts only: plain Opus on a
 * clean network (sent with DTX), RED negotiated both ways under loss where the browser can
 * prefer it, audio still flowing under loss, audio back after the outage
 * with exactly one ICE restart. `bench` runs the matrix of
 * `docs/call-quality.md`: two calls at once, one tuned and one with browser
 * defaults, through the same conditions at the same time. Both print one
 * line `RESULT {json}`.
 *
 * @module
 */
import { join } from "node:path";
import type { Page } from "playwright-core";
import { type SpawnedServer, spawnServer } from "../../testing/spawn_server.ts";
import { deadline, delay, eventually } from "../../testing/wait.ts";
import {
  type ChromiumBrowser as TestBrowser,
  launchChromium,
} from "../../testing/chromium.ts";
import { type Condition, ImpairmentLab } from "../impair/lab.ts";
import {
  type CallCounters,
  canPreferRed,
  firstPacketAfter,
  probeScript,
  readCounters,
  restartCalls,
  stateLog,
  watchFirstPacket,
} from "./page_probes.ts";
import {
  makeClickTrain,
  makeQuietTalk,
  makeSpeech,
  readWav,
  writeWav,
} from "./signals.ts";
import { addNoise, speechToFloorDb } from "./noise.ts";
import { type ConditionFigures, windowFigures } from "./figures.ts";
import type { RunFigures } from "./report.ts";
import {
  allowBlobWorklets,
  audioProbeScript,
  readOnsets,
  record,
  startOnsets,
  startRecorder,
  takeRecording,
} from "./audio_probes.ts";
import { receivedStoi } from "./stoi.ts";
import { mouthToEar } from "./onsets_math.ts";

/** What a lab run reports. */
export interface LabResult {
  ok: boolean;
  checks: string[];
  metrics: Record<string, number | string | boolean>;
  /** Per direction of each call (0, 1): figures by variant and condition. */
  figures: RunFigures[];
  error?: string;
  logs?: string[];
}

const [mode, artifacts = "test-artifacts"] = Deno.args;
const result: LabResult = { ok: false, checks: [], metrics: {}, figures: [] };
const TEST_TIMEOUT_MS = 110_000;
const BENCH_TIMEOUT_MS = 20 * 60_000;
/** The bench's outage, as in the issue. */
const OUTAGE_MS = 10_000;
/**
 * The test's outage: Chromium notices about 7 s into an outage
 * (`disconnected`), and the first restart is due 3 s later, so a 10 s
 * outage races it; at 15 s a restart happens in every run, and the old
 * client made two.
 */
const TEST_OUTAGE_MS = 15_000;

function pass(check: string): void {
  result.checks.push(check);
  console.error(`ok: ${check}`);
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Two browsers in one room of Parley, joined through the UI. */
interface Pair {
  readonly name: string;
  readonly a: TestBrowser;
  readonly b: TestBrowser;
  /** Join click of `b` to its first inbound audio packet (ms). */
  joinToFirstAudioMs: number;
}

async function openLabBrowser(
  label: string,
  wav: string,
  tmp: string,
  tuning: boolean,
  extraScript = "",
  prefs: Record<string, boolean> = {},
): Promise<TestBrowser> {
  const browser = await launchChromium(label, wav, tmp);
  await browser.page.context().addInitScript({
    content: probeScript({ tuning, prefs }) + extraScript,
  });
  if (extraScript) await allowBlobWorklets(browser.page);
  return browser;
}

async function joinRoom(page: Page, origin: string, room?: string) {
  await page.goto(room ? `${origin}/r/${room}` : `${origin}/`);
  const roomBox = page.getByRole("textbox", { name: "Room", exact: true });
  if (!room) await page.getByRole("button", { name: "Create room" }).click();
  const id = await roomBox.inputValue();
  await page.getByRole("textbox", { name: "Your name" }).fill("Lab");
  const clickedAt = Date.now();
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await page.locator('.app[data-phase="call"]').waitFor();
  return { room: id, clickedAt };
}

/** Joins `a` then `b` into a new room; waits for audio both ways. */
async function connectPair(
  name: string,
  a: TestBrowser,
  b: TestBrowser,
  origin: string,
): Promise<Pair> {
  const { room } = await joinRoom(a.page, origin);
  const { clickedAt } = await joinRoom(b.page, origin, room);
  const first = await eventually(
    async () => {
      const [c] = await readCounters(b.page);
      return c && c.packetsReceived > 0 ? c.at : false;
    },
    `${b.label}'s first inbound audio packet`,
    { timeoutMs: 20_000, intervalMs: 10 },
  );
  await flowing([a, b]);
  return { name, a, b, joinToFirstAudioMs: first - clickedAt };
}

/** Waits until every browser receives audio (packets and energy rise). */
async function flowing(
  browsers: TestBrowser[],
  timeoutMs = 25_000,
): Promise<void> {
  for (const browser of browsers) {
    await eventually(
      async () => {
        const [first] = await readCounters(browser.page);
        if (!first) return false;
        await delay(500);
        const [second] = await readCounters(browser.page);
        return second !== undefined &&
          second.packetsReceived > first.packetsReceived &&
          second.totalAudioEnergy > first.totalAudioEnergy;
      },
      `${browser.label} to receive audio`,
      { timeoutMs, intervalMs: 100 },
    );
  }
}

async function counters(browser: TestBrowser): Promise<CallCounters> {
  const [c] = await readCounters(browser.page);
  assert(c, `${browser.label} has no open connection`);
  return c;
}

// ---- test mode ----

async function testCall(tmp: string, server: SpawnedServer): Promise<void> {
  const speech = await makeSpeech(tmp);
  await using lab = await ImpairmentLab.start({ dir: tmp, seed: 12 });
  await using ada = await openLabBrowser("ada", speech, tmp, true);
  await using grace = await openLabBrowser("grace", speech, tmp, true);
  try {
    const pair = await connectPair("tuned", ada, grace, server.origin);
    pass("two browsers in a call on the lab network");

    const red = await canPreferRed(ada.page);
    result.metrics.canPreferRed = red;
    const codecs = async () =>
      (await Promise.all([ada, grace].map(counters))).flatMap((c) => [
        c.outCodec.toLowerCase(),
        c.inCodec.toLowerCase(),
      ]);
    const clean = await codecs();
    assert(
      clean.every((c) => c === "audio/opus"),
      `not plain Opus on a clean network: ${clean}`,
    );
    pass("plain Opus both ways on a clean network");
    const fmtp = (await Promise.all([ada, grace].map(counters))).map((c) =>
      c.outOpusFmtp
    );
    assert(
      fmtp.every((f) => /(^|;)usedtx=1(;|$)/.test(f.trim())),
      `the tuned path does not send with DTX: ${fmtp}`,
    );
    pass(`both sides send Opus with DTX (${fmtp[0]})`);

    await lab.set({ loss: 0.1 });
    const before = await Promise.all([ada, grace].map(counters));
    const labBefore = await lab.stats();
    const expected = red ? "audio/red" : "audio/opus";
    // Each side measures its received loss and asks for RED.
    const lossy = await eventually(
      async () => {
        const now = await codecs();
        return now.every((c) => c === expected) ? now : false;
      },
      `${expected} both ways under 10% loss`,
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    pass(
      red
        ? `under 10% loss both sides ask for RED: ${lossy.join(", ")}`
        : "no RED in this browser: plain Opus both ways under loss",
    );
    await flowing([ada, grace]);
    const after = await Promise.all([ada, grace].map(counters));
    const labAfter = await lab.stats();
    const dropped = labAfter.dropped - labBefore.dropped;
    assert(dropped > 0, "the lab dropped nothing at 10% loss");
    const lost = after.map((c, i) => c.packetsLost - before[i].packetsLost);
    assert(
      lost.some((n) => n > 0),
      `no packet counted lost under 10% loss: ${lost}`,
    );
    result.metrics.labDroppedAt10 = dropped;
    result.metrics.concealedAt10 = windowFigures(before[1], after[1])
      .concealedPercent ?? NaN;
    pass("at 10% loss packets are lost and audio keeps flowing both ways");

    const restartsBefore = (await Promise.all(
      [ada, grace].map((b) => restartCalls(b.page)),
    )).flat().length;
    assert(restartsBefore === 0, `ICE restarted before the outage`);
    await lab.outage();
    await delay(TEST_OUTAGE_MS);
    await Promise.all(
      [ada, grace].map((b) => watchFirstPacket(b.page, 30_000)),
    );
    const restoredAt = Date.now();
    result.metrics.outageFrom = restoredAt - TEST_OUTAGE_MS;
    result.metrics.restoredAt = restoredAt;
    await lab.set({});
    await flowing([ada, grace], 30_000);
    const back = await Promise.all(
      [ada, grace].map((b) => firstPacketAfter(b.page)),
    );
    result.metrics.recoveryMs = Math.max(
      ...back.map((t) => (t ?? NaN) - restoredAt),
    );
    pass("audio flows both ways again after a 15 s outage");

    // Any second restart would come within a few seconds of recovery.
    await delay(6_000);
    const restarts = (await Promise.all(
      [ada, grace].map((b) => restartCalls(b.page)),
    )).flat();
    const generations = await Promise.all(
      [ada, grace].map(async (b) => (await counters(b)).iceGenerations),
    );
    result.metrics.iceRestarts = restarts.length;
    result.metrics.iceGenerations = generations.join(",");
    assert(
      restarts.length === 1,
      `expected one ICE restart for the outage, got ${restarts.length}: ${
        JSON.stringify(result.metrics)
      }`,
    );
    assert(
      generations.every((g) => g === 2),
      `ICE credentials changed more or less than once: ${generations}`,
    );
    await flowing([ada, grace]);
    pass("the outage took exactly one ICE restart; audio still flows");
    result.metrics.joinToFirstAudioMs = pair.joinToFirstAudioMs;
  } finally {
    result.logs = [
      ...ada.errors,
      ...grace.errors,
      ...(await stateLog(ada.page).catch(() => [])).map((s) => `ada ${s}`),
      ...(await stateLog(grace.page).catch(() => [])).map((s) => `grace ${s}`),
    ].slice(0, 60);
  }
}

// ---- bench mode ----

/**
 * The conditions of the matrix, in the order the run takes them: delay
 * before loss, because RED, once on, stays on for 30 s of clean audio.
 */
export const CONDITIONS: { name: string; label: string; set: Condition }[] = [
  { name: "clean", label: "clean", set: {} },
  {
    name: "delay40",
    label: "40 ± 10 ms",
    set: { delayMs: 40, jitterMs: 10 },
  },
  {
    name: "delay100",
    label: "100 ± 30 ms",
    set: { delayMs: 100, jitterMs: 30 },
  },
  { name: "loss5", label: "5% loss", set: { loss: 0.05 } },
  { name: "loss10", label: "10% loss", set: { loss: 0.1 } },
  { name: "loss20", label: "20% loss", set: { loss: 0.2 } },
];

function num(name: string, fallback: number): number {
  const value = Number(Deno.env.get(name) ?? "");
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/** A recording of one receiver in one window, scored after the run. */
interface Recording {
  direction: number;
  variant: string;
  condition: string;
  samples: Float64Array;
  rate: number;
}

/**
 * Figures of every receiver of `pairs` over one window: per pair, index 0
 * is what `a` receives, index 1 what `b` receives. With `recordings`, each
 * call's `a` also records what it hears during the window.
 */
async function measureWindow(
  pairs: Pair[],
  windowMs: number,
  recordings?: { condition: string; into: Recording[] },
): Promise<Map<string, ConditionFigures[]>> {
  const receivers = pairs.flatMap((p) => [p.a, p.b]);
  if (recordings) {
    await Promise.all(pairs.map((p) => record(p.a.page, true)));
  }
  const before = await Promise.all(receivers.map(counters));
  await delay(windowMs);
  const after = await Promise.all(receivers.map(counters));
  const out = new Map<string, ConditionFigures[]>();
  for (const [i, pair] of pairs.entries()) {
    out.set(pair.name, [
      windowFigures(before[2 * i], after[2 * i]),
      windowFigures(before[2 * i + 1], after[2 * i + 1]),
    ]);
    // One direction per call is recorded: the recordings are large and
    // slow to move out of a loaded browser.
    for (const direction of [0]) {
      if (!recordings) continue;
      const { samples, rate } = await takeRecording(
        receivers[2 * i + direction].page,
      );
      recordings.into.push({
        direction,
        variant: pair.name,
        condition: recordings.condition,
        samples,
        rate,
      });
    }
  }
  return out;
}

/** Adds figures of one direction (0: `a` receives, 1: `b` receives). */
function record1(
  direction: number,
  variant: string,
  condition: string,
  f: ConditionFigures,
): void {
  const run = result.figures[direction] ??= {};
  const byCondition = run[variant] ??= {};
  byCondition[condition] = { ...(byCondition[condition] ?? {}), ...f };
}

function recordBoth(
  variant: string,
  condition: string,
  figures: ConditionFigures[],
): void {
  for (const [direction, f] of figures.entries()) {
    record1(direction, variant, condition, f);
  }
}

/** The parts of the matrix `bench` runs unless `CALLS_PHASES` says. */
const PHASES = "quality,latency,noise,talk";

async function benchCalls(tmp: string, server: SpawnedServer): Promise<void> {
  const windowMs = num("CALLS_WINDOW_SEC", 12) * 1000;
  const settleMs = num("CALLS_SETTLE_SEC", 6) * 1000;
  const phases = (Deno.env.get("CALLS_PHASES") ?? PHASES).split(",");
  const speech = await makeSpeech(tmp);
  const clicks = await makeClickTrain(tmp);
  await using lab = await ImpairmentLab.start({ dir: tmp, seed: 12 });
  const origin = server.origin;
  const script = audioProbeScript();
  const recordings: Recording[] = [];

  // Phase 1: speech; concealment, loss, jitter, FEC, STOI, recovery.
  if (phases.includes("quality")) {
    await using t1 = await openLabBrowser("tuned-a", speech, tmp, true, script);
    await using t2 = await openLabBrowser("tuned-b", speech, tmp, true, script);
    await using d1 = await openLabBrowser("dflt-a", speech, tmp, false, script);
    await using d2 = await openLabBrowser("dflt-b", speech, tmp, false, script);
    // Join under 40 ± 10 ms, one pair after the other.
    await lab.set({ delayMs: 40, jitterMs: 10 });
    const tuned = await connectPair("tuned", t1, t2, origin);
    const defaults = await connectPair("defaults", d1, d2, origin);
    await lab.set({});
    const pairs = [tuned, defaults];
    for (const b of [t1, t2, d1, d2]) await startRecorder(b.page);
    for (const p of pairs) {
      record1(1, p.name, "join40", {
        joinToFirstAudioMs: p.joinToFirstAudioMs,
      });
    }
    pass("two calls, tuned and browser defaults");
    const measureCap = async (pairs: Pair[]) => {
      await lab.set({});
      // The cap: each call's two ports share one 128 kbit/s bucket, 64 kbit/s
      // each way; both calls measured at once, in buckets of their own.
      const ports = await Promise.all(
        pairs.map(async (p) => [
          (await counters(p.a)).localPort,
          (await counters(p.b)).localPort,
        ]),
      );
      await lab.rateLimit(128, ports);
      await delay(settleMs);
      const capped = await measureWindow(pairs, windowMs, {
        condition: "rate64",
        into: recordings,
      });
      for (const [variant, f] of capped) recordBoth(variant, "rate64", f);
      await lab.rateLimit(0);
      pass(`measured the 64 kbit/s cap (ports ${JSON.stringify(ports)})`);
    };

    for (const condition of CONDITIONS) {
      await lab.set(condition.set);
      await delay(settleMs);
      const figures = await measureWindow(pairs, windowMs, {
        condition: condition.name,
        into: recordings,
      });
      for (const [variant, f] of figures) {
        recordBoth(variant, condition.name, f);
      }
      const codecs = await Promise.all(
        pairs.map(async (p) => (await counters(p.a)).inCodec),
      );
      result.metrics[`codecs_${condition.name}`] = codecs.join(" / ");
      pass(`measured ${condition.label} (tuned/defaults receive ${codecs})`);
    }
    await lab.set({});

    // A 10 s outage, then the network comes back.
    await flowing([t1, t2, d1, d2]);
    const restartsBefore = await Promise.all(
      pairs.map(async (p) =>
        (await restartCalls(p.a.page)).length +
        (await restartCalls(p.b.page)).length
      ),
    );
    await lab.outage();
    await delay(OUTAGE_MS);
    await Promise.all(
      [t1, t2, d1, d2].map((b) => watchFirstPacket(b.page, 30_000)),
    );
    const restoredAt = Date.now();
    await lab.set({});
    await flowing([t1, t2, d1, d2], 30_000);
    await delay(6_000);
    for (const [i, p] of pairs.entries()) {
      const back = await Promise.all(
        [p.a, p.b].map((b) => firstPacketAfter(b.page)),
      );
      const restarts = (await restartCalls(p.a.page)).length +
        (await restartCalls(p.b.page)).length - restartsBefore[i];
      recordBoth(
        p.name,
        "outage",
        back.map((t) => ({
          recoveryMs: (t ?? NaN) - restoredAt,
          iceRestarts: restarts,
        })),
      );
    }
    pass("measured recovery after a 10 s outage");

    // The cap comes last, once RED is off again (30 s without loss): RED
    // already on when a link turns thin is not caught (see the doc), and
    // after the cap RED stays off for 2 minutes.
    await eventually(
      async () => (await counters(tuned.a)).inCodec === "audio/opus",
      "RED to go off after 30 s without loss",
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    await measureCap(pairs);
  }

  // Phase 2: click trains; mouth-to-ear latency, both variants at once.
  if (phases.includes("latency")) {
    await using t1 = await openLabBrowser("lat-a", clicks, tmp, true, script);
    await using t2 = await openLabBrowser("lat-b", clicks, tmp, true, script);
    await using d1 = await openLabBrowser("dlat-a", clicks, tmp, false, script);
    await using d2 = await openLabBrowser("dlat-b", clicks, tmp, false, script);
    const pairs = [
      await connectPair("tuned", t1, t2, origin),
      await connectPair("defaults", d1, d2, origin),
    ];
    for (const b of [t1, t2, d1, d2]) await startOnsets(b.page);
    for (
      const condition of CONDITIONS.filter((c) =>
        ["clean", "delay40", "delay100", "loss10"].includes(c.name)
      )
    ) {
      await lab.set(condition.set);
      await delay(settleMs);
      const since = Date.now();
      await delay(windowMs);
      for (const pair of pairs) {
        const [a, b] = await Promise.all(
          [pair.a, pair.b].map((x) => readOnsets(x.page, since)),
        );
        // Direction 0: what a hears (b's mouth); 1: what b hears.
        const heard = [mouthToEar(b.mouth, a.ear), mouthToEar(a.mouth, b.ear)];
        recordBoth(pair.name, condition.name, heard.map(latencySummary));
        result.metrics[`${pair.name}Clicks_${condition.name}`] =
          heard[0].length + heard[1].length;
      }
      pass(`latency under ${condition.label}`);
    }
    await lab.set({});
  }

  // Phase 3: speech in pink noise; the noise filter against the browser's
  // own noise suppression and against nothing, on a clean network.
  if (phases.includes("noise")) await benchNoise(tmp, speech, origin, script);

  // Phase 4: a person who speaks a third of the time; what DTX saves.
  if (phases.includes("talk")) await benchTalk(tmp, speech, origin);

  // Intelligibility, scored with the browsers closed (it takes CPU).
  if (recordings.length) {
    const reference = readWav(await Deno.readFile(speech));
    await Deno.mkdir(artifacts, { recursive: true });
    await Deno.copyFile(speech, join(artifacts, "calls-speech.wav"));
    for (const r of recordings) {
      // Kept for listening and for scoring again offline.
      await Deno.writeFile(
        join(artifacts, `calls-${r.variant}-${r.condition}.wav`),
        writeWav(r.samples, r.rate),
      );
      record1(r.direction, r.variant, r.condition, {
        stoi: receivedStoi(reference.x, reference.rate, r.samples, r.rate),
      });
    }
    pass(`scored ${recordings.length} recordings with STOI`);
  }
}

/** The SNR of the noisy microphone (dB, pink noise under active speech). */
export const NOISE_SNR_DB = 5;

/** How each call of the noise phase treats its microphones. */
const NOISE_VARIANTS: { name: string; prefs: Record<string, boolean> }[] = [
  { name: "rnnoise", prefs: { noiseFilter: true } },
  { name: "browser-ns", prefs: { noiseSuppression: true } },
  { name: "none", prefs: {} },
];

/**
 * Three calls at once whose microphones all say the lab's sentence in pink
 * noise at {@linkcode NOISE_SNR_DB}: one with Parley's noise filter, one
 * with the browser's noise suppression, one with neither. What `a` of each
 * receives is recorded and scored against the clean sentence (STOI) and by
 * its speech-to-floor ratio; the noisy input itself is scored the same way
 * as the baseline. Figures go into `result.metrics` as `noise_<variant>_*`.
 */
async function benchNoise(
  tmp: string,
  speech: string,
  origin: string,
  script: string,
): Promise<void> {
  const clean = readWav(await Deno.readFile(speech));
  const noisy = addNoise(clean.x, clean.rate, NOISE_SNR_DB);
  const noisyPath = join(tmp, "speech-noisy.wav");
  await Deno.writeFile(noisyPath, writeWav(noisy, clean.rate));
  const windowMs = num("CALLS_WINDOW_SEC", 12) * 1000;
  const settleMs = num("CALLS_SETTLE_SEC", 6) * 1000;
  const recordings: Recording[] = [];
  {
    await using stack = new AsyncDisposableStack();
    const pairs: Pair[] = [];
    for (const v of NOISE_VARIANTS) {
      const open = (side: string) =>
        openLabBrowser(`${v.name}-${side}`, noisyPath, tmp, true, script, {
          ...v.prefs,
        });
      const a = stack.use(await open("a"));
      const b = stack.use(await open("b"));
      pairs.push(await connectPair(v.name, a, b, origin));
    }
    // The filter is on where it was asked for: its WebAssembly was fetched.
    for (const pair of pairs) {
      const fetched = await pair.b.page.evaluate(() =>
        performance.getEntriesByType("resource")
          .some((e) => new URL(e.name).pathname.endsWith(".wasm"))
      );
      assert(
        fetched === (pair.name === "rnnoise"),
        `${pair.name}: noise filter code fetched: ${fetched}`,
      );
    }
    for (const pair of pairs) await startRecorder(pair.a.page);
    await delay(settleMs);
    const figures = await measureWindow(pairs, windowMs, {
      condition: "noisy",
      into: recordings,
    });
    for (const [variant, f] of figures) {
      result.metrics[`noise_${variant}_concealedPercent`] =
        f[0].concealedPercent ?? NaN;
    }
  }
  const score = (name: string, x: ArrayLike<number>, rate: number) => {
    result.metrics[`noise_${name}_stoi`] = receivedStoi(
      clean.x,
      clean.rate,
      x,
      rate,
    );
    result.metrics[`noise_${name}_floorDb`] = speechToFloorDb(x, rate);
  };
  score("clean", clean.x, clean.rate);
  score("input", noisy, clean.rate);
  await Deno.mkdir(artifacts, { recursive: true });
  await Deno.copyFile(noisyPath, join(artifacts, "calls-speech-noisy.wav"));
  for (const r of recordings) {
    score(r.variant, r.samples, r.rate);
    await Deno.writeFile(
      join(artifacts, `calls-noise-${r.variant}.wav`),
      writeWav(r.samples, r.rate),
    );
  }
  pass(
    `noisy speech (${NOISE_SNR_DB} dB SNR) through ${
      NOISE_VARIANTS.map((v) => v.name).join(", ")
    }: scored ${recordings.length} recordings`,
  );
}

/**
 * Two calls at once, tuned (DTX) and browser defaults, whose microphones
 * say the sentence and then hear a quiet room for 20 s, looped; over one
 * whole loop: what each side sends (RTP payload kbit/s, packets/s) and what
 * the other conceals. Figures go into `result.metrics` as `talk_<variant>_*`.
 */
async function benchTalk(
  tmp: string,
  speech: string,
  origin: string,
): Promise<void> {
  const wav = await makeQuietTalk(tmp, speech);
  const loopMs = Math.round(readWavSeconds(await Deno.readFile(wav)) * 1000);
  await using t1 = await openLabBrowser("talk-a", wav, tmp, true);
  await using t2 = await openLabBrowser("talk-b", wav, tmp, true);
  await using d1 = await openLabBrowser("dtalk-a", wav, tmp, false);
  await using d2 = await openLabBrowser("dtalk-b", wav, tmp, false);
  const pairs = [
    await connectPair("tuned", t1, t2, origin),
    await connectPair("defaults", d1, d2, origin),
  ];
  const browsers = pairs.flatMap((p) => [p.a, p.b]);
  const before = await Promise.all(browsers.map(counters));
  await delay(loopMs);
  const after = await Promise.all(browsers.map(counters));
  for (const [i, pair] of pairs.entries()) {
    const [x, y] = [2 * i, 2 * i + 1];
    for (const [side, j] of [["a", x], ["b", y]] as const) {
      const seconds = (after[j].at - before[j].at) / 1000;
      const f = windowFigures(before[j], after[j]);
      result.metrics[`talk_${pair.name}_${side}_sendKbps`] = f.sendKbps ?? NaN;
      result.metrics[`talk_${pair.name}_${side}_packetsPerSec`] =
        (after[j].packetsSent - before[j].packetsSent) / seconds;
      result.metrics[`talk_${pair.name}_${side}_concealedPercent`] =
        f.concealedPercent ?? NaN;
    }
  }
  pass(`a quiet talker (${loopMs} ms loop), tuned (DTX) and defaults`);
}

/** Length of a 16-bit mono WAV in seconds. */
function readWavSeconds(bytes: Uint8Array): number {
  const { x, rate } = readWav(bytes);
  return x.length / rate;
}

function latencySummary(ms: number[]): ConditionFigures {
  const sorted = [...ms].sort((x, y) => x - y);
  const at = (q: number) =>
    sorted.length
      ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
      : NaN;
  return {
    mouthToEarP50Ms: at(0.5),
    mouthToEarP90Ms: at(0.9),
    clicks: sorted.length,
  };
}

async function run(): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "parley-lab-" });
  let server: SpawnedServer | undefined;
  try {
    server = await spawnServer({
      env: { DATABASE_URL: `file:${join(tmp, "parley.db")}` },
    });
    if (mode === "test") await testCall(tmp, server);
    else if (mode === "bench") await benchCalls(tmp, server);
    else throw new Error(`unknown mode ${mode} (test | bench)`);
    result.ok = true;
  } finally {
    await server?.close();
    await Deno.mkdir(artifacts, { recursive: true }).catch(() => {});
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

try {
  await deadline(
    run(),
    `call lab ${mode}`,
    mode === "bench" ? BENCH_TIMEOUT_MS : TEST_TIMEOUT_MS,
  );
} catch (error) {
  result.ok = false;
  result.error = error instanceof Error ? error.stack ?? error.message : String(
    error,
  );
}
console.log(`RESULT ${JSON.stringify(result)}`);
Deno.exit(result.ok ? 0 : 1);

/**
 * `deno task bench:calls`: the call quality matrix. Runs
 * `bench/calls/call_lab.ts bench` inside a fresh loopback-only network and
 * PID namespace (the impairment lab's iptables and tc rules live and die
 * with it), `CALLS_RUNS` times, and writes `docs/call-quality.md` with the
 * method and the figures, Parley's tuned audio path beside browser
 * defaults, as ranges over runs and both directions of each call.
 *
 * Knobs: `CALLS_RUNS` (1), `CALLS_WINDOW_SEC` (12, each condition's steady
 * window), `CALLS_SETTLE_SEC` (4, before each window), `CALLS_OUT` (the
 * document to write, `docs/call-quality.md`; `-` prints it only),
 * `CALLS_PHASES` (`quality,latency,noise`: which parts of the matrix run),
 * `CALLS_FROM` (render the document from a saved
 * `test-artifacts/call-quality.json` instead of running).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { LabResult } from "./call_lab.ts";
import {
  eventsTable,
  qualityTable,
  type RunFigures,
  targetsTable,
} from "./report.ts";
import { cpuModel } from "../procfs.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LAB = fileURLToPath(new URL("./call_lab.ts", import.meta.url));
/** One run's bound; the namespace's PID 1 takes everything with it. */
const RUN_TIMEOUT_MS = 25 * 60_000;

/** The 1-minute load average (Deno reads /proc only with --allow-all). */
function loadAverage(): number {
  try {
    return Deno.loadavg()[0];
  } catch {
    return NaN;
  }
}

async function runOnce(): Promise<LabResult> {
  const loadBefore = loadAverage();
  if (Deno.uid() !== 0) throw new Error("bench:calls needs root (unshare)");
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
      `ip link set lo up; "${Deno.execPath()}" run -A "${LAB}" bench "${ROOT}test-artifacts"`,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, RUN_TIMEOUT_MS);
  const output = await child.output();
  clearTimeout(timer);
  const line = new TextDecoder().decode(output.stdout).split("\n")
    .find((l) => l.startsWith("RESULT "));
  if (!line) throw new Error(`the lab reported nothing (exit ${output.code})`);
  const result = JSON.parse(line.slice("RESULT ".length)) as LabResult;
  result.metrics.loadAverage =
    `${loadBefore} at the start, ${loadAverage()} at the end`;
  if (!result.ok) {
    // Keep what was measured; the document says the run failed.
    console.error(
      `bench:calls: the lab failed after: ${
        result.checks.join("; ")
      }\n${result.error}`,
    );
  }
  return result;
}

/** The document, from the runs' figures. */
export function renderDoc(
  runs: LabResult[],
  meta: { date: string; cpu: string; chromium: string; windowSec: number },
): string {
  const figures: RunFigures[] = runs.flatMap((r) => r.figures);
  const codecs = runs.map((r) =>
    Object.entries(r.metrics).filter(([k]) => k.startsWith("codecs_"))
      .map(([k, v]) => `${k.slice("codecs_".length)}: ${v}`).join("; ")
  );
  const failed = runs.filter((r) => !r.ok).map((r) =>
    `\n**A run failed** after: ${
      r.checks.join("; ")
    }. Its figures so far are included.\n`
  ).join("");
  return `${DOC_HEAD}${NOISE_METHOD}
## Figures
${failed}
Measured ${meta.date} on ${meta.cpu} (2 cores shared with other engineers'
browser tests: noisy; 1-minute load average ${
    runs.map((r) => r.metrics.loadAverage ?? "not recorded").join("; ")
  }), ${meta.chromium}; ${runs.length} run(s) of the matrix,
${meta.windowSec} s steady window per condition. Each cell is the range over
both directions of the call and every run (one value when they agree).
Codec received at the end of each window (tuned / defaults): ${
    [...new Set(codecs)].join(" | ")
  }.

### Voice under loss, delay and a rate cap

${qualityTable(figures)}

### Outage, join and latency

${eventsTable(figures)}

### Targets of issue 12

${targetsTable(figures)}

### A quiet talker: DTX

${talkTable(runs)}

### Noisy speech: the noise filter

${noiseTable(runs)}

${DOC_TAIL}`;
}

/** The talk phase's figures (`talk_<variant>_<side>_<figure>` metrics). */
export function talkTable(runs: LabResult[]): string {
  if (!runs.some((r) => "talk_tuned_a_sendKbps" in r.metrics)) {
    return "Not measured in this run (`CALLS_PHASES` without `talk`).";
  }
  const range = (variant: string, figure: string, digits: number) => {
    const values = runs.flatMap((r) =>
      ["a", "b"].map((side) => r.metrics[`talk_${variant}_${side}_${figure}`])
    ).filter((v) => typeof v === "number" && Number.isFinite(v)) as number[];
    if (values.length === 0) return "–";
    const lo = Math.min(...values).toFixed(digits);
    const hi = Math.max(...values).toFixed(digits);
    return lo === hi ? lo : `${lo}–${hi}`;
  };
  return [
    "| The sentence, then 20 s of a quiet room, looped | tuned (DTX) | defaults |",
    "|---|---|---|",
    ...[
      ["sent, RTP payload (kbit/s)", "sendKbps", 1],
      ["packets sent per second", "packetsPerSec", 1],
      ["concealed % at the other side", "concealedPercent", 2],
    ].map(([label, figure, digits]) =>
      `| ${label} | ${range("tuned", figure as string, digits as number)} | ${
        range("defaults", figure as string, digits as number)
      } |`
    ),
  ].join("\n");
}

/** The noise phase's figures (`noise_<variant>_<figure>` metrics). */
export function noiseTable(runs: LabResult[]): string {
  const rows = [
    ["clean", "The clean sentence (reference)"],
    ["input", "The noisy microphone itself (what is sent)"],
    ["rnnoise", "Received: Parley's noise filter (RNNoise)"],
    ["browser-ns", "Received: the browser's noise suppression"],
    ["none", "Received: no noise suppression"],
  ];
  const range = (key: string, digits: number) => {
    const values = runs.map((r) => r.metrics[key]).filter((v) =>
      typeof v === "number" && Number.isFinite(v)
    ) as number[];
    if (values.length === 0) return "–";
    const lo = Math.min(...values).toFixed(digits);
    const hi = Math.max(...values).toFixed(digits);
    return lo === hi ? lo : `${lo}–${hi}`;
  };
  if (!runs.some((r) => "noise_input_stoi" in r.metrics)) {
    return "Not measured in this run (`CALLS_PHASES` without `noise`).";
  }
  return [
    "| Speech in pink noise | STOI vs the clean sentence | Speech over floor (dB) | Concealed % |",
    "|---|---|---|---|",
    ...rows.map(([key, label]) =>
      `| ${label} | ${range(`noise_${key}_stoi`, 2)} | ${
        range(`noise_${key}_floorDb`, 1)
      } | ${range(`noise_${key}_concealedPercent`, 2)} |`
    ),
  ].join("\n");
}

const DOC_HEAD = `# Call quality on impaired networks

What people hear in a Parley call, measured between two headless Chromium
browsers on a loopback network that drops, delays and throttles packets like a
bad Wi-Fi or mobile link; and how Parley's audio path is tuned from it.
Regenerate with \`deno task bench:calls\` (6–15 minutes depending on the
machine's load; needs root for the network namespace).

## Method

- **The lab** (\`bench/impair/\`). Everything runs inside a fresh
  loopback-only network and PID namespace (\`unshare --net --pid --fork
  --kill-child --mount-proc\`), so the rules below exist only there and die
  with it. This kernel has no \`sch_netem\`; \`impair.c\`, built at run time
  with gcc against Debian's libnetfilter-queue-dev, receives every UDP packet
  on \`lo\` through \`iptables -A OUTPUT -o lo -p udp -j NFQUEUE\` and drops it
  with probability p or holds it for delay ± jitter (uniform; packets of one
  flow are not reordered). TCP, hence signaling, is never impaired. On \`lo\`
  each packet crosses once, so both directions of a call get the loss and the
  delay (RTT = 2 × delay). Conditions change at run time (the outage drops
  everything for 10 s). The rate cap is a \`tbf\` of 128 kbit/s per call, under
  an \`htb\` whose u32 filters send the UDP of that call's two ports (and
  nothing else) to it: the two directions share it, 64 kbit/s each way, IP
  and UDP headers included.
- **Calls.** Parley's server and four Chromium 156 browsers (fake
  microphones, processing off: echo cancellation, noise suppression and AGC
  would measure themselves, not the network) make two calls through the real
  UI at the same time on the same impaired network: one with Parley's tuned
  audio path, one with browser defaults (\`localStorage["parley.audio-tuning"]
  = "off"\`). So both see the same conditions at the same moments, and the
  machine's noise hits both.
- **Concealment, loss, jitter buffer, FEC.** \`getStats()\` inbound-rtp
  counters read at the start and end of a steady window (after a few seconds
  of settling): concealed % = Δ\`concealedSamples\` / Δ\`totalSamplesReceived\`;
  loss % = Δ\`packetsLost\` / (Δ\`packetsReceived\` + Δ\`packetsLost\`);
  jitter buffer = Δ\`jitterBufferDelay\` / Δ\`jitterBufferEmittedCount\`; FEC
  = Δ\`fecPacketsReceived\` per second; sent = Δ\`bytesSent\` (RTP payload) of
  each side. The fake microphone is a sentence of espeak-ng speech, looped.
- **Intelligibility.** One receiving page per call records the received
  track in an
  AudioWorklet during the window; the recording is aligned with the sent
  speech by cross-correlation (each second separately, within ±300 ms of
  where the previous one ended) and scored with STOI (short-time objective
  intelligibility, Taal et al. 2011; \`bench/calls/stoi.ts\`, checked in
  \`stoi_test.ts\` on speech with known noise and dropped frames: it falls as
  the SNR falls and as more frames are lost).
- **Recovery.** After the 10 s outage, the time from the network's return to
  the first inbound packet on each side (pages poll \`getStats()\` every
  20 ms), and the number of \`restartIce()\` calls on both pages.
- **Mouth-to-ear.** Each fake microphone plays a click train (a 10 ms
  Hann-windowed 2 kHz burst every 500 ms, made with sox). Each page runs an
  AudioWorklet onset detector on the track it sends and on the track it
  receives and stamps onsets with \`Date.now()\` (one host, one clock); a
  latency is an ear stamp minus the latest mouth stamp of the other page
  before it. Both stamps pass the same MediaStream-to-Web-Audio path, so its
  delay cancels; the capture of the fake device and the playout buffer of a
  real sound card are not included.
- **Join to first audio**: the second browser's Join click to its first
  inbound audio packet, under 40 ± 10 ms one way.
`;

const DOC_TAIL = `## What the figures decided

- **Adaptive RED** (\`public/audio_codecs.ts\`). RED (RFC 2198) carries each
  20 ms frame twice, in consecutive packets, so isolated random losses cost
  nothing: compare the concealment columns under loss. But in Chromium 156
  RED also lengthens the receiver's jitter buffer: with RED on from the start
  (an earlier version of this client) mouth-to-ear on clean loopback was
  145–166 ms against 65–74 ms with plain Opus, in the same run. The latency
  rows under 10% loss show the same cost. So each side asks for RED only while
  it measures loss on what it receives: at 2% over 3 s it puts \`audio/red\`
  first in its own descriptions (\`setCodecPreferences\`, which is what the
  other side sends) and renegotiates; after 30 s under 0.5% it puts Opus
  first again. The "Codec received" line shows the switch per condition.
  Feature-detected: without \`setCodecPreferences\` or RED (some Firefox and
  Safari versions) nothing changes and the call uses Opus.
- **What RED costs a mesh.** It doubles the audio payload (the "sent" column
  under loss: about 61 against 30 kbit/s). In an 8-person mesh each browser
  sends 7 streams: about 0.21 Mbit/s of Opus payload (~0.4 Mbit/s on the wire
  with IP/UDP/SRTP headers at 50 packets/s per stream) becomes about
  0.43 Mbit/s of payload (~0.6 Mbit/s on the wire), and only towards peers
  whose links lose packets. A thin link does not carry it: under a
  64 kbit/s cap the loss comes from the link's own queue, and RED's doubled
  stream made it worse (31–35% lost against 5–7% for plain Opus in a run
  with RED that did not back off). So when loss with RED is more than twice
  the loss that switched it on (and 10 points more), RED goes off for
  2 minutes: the "64 kbit/s" row shows the result (measured last, once
  RED was off again). Only the first seconds after RED comes on are judged:
  a rise in loss later is the network's own (10% then 20% loss) and keeps
  RED on. A link that turns thin while RED is already on is not caught.
- **Delay jitter can switch RED on.** Under 100 ± 30 ms (no packet dropped
  by the lab) the receivers' \`packetsLost\` rose and fell again (a negative
  loss over the window for the defaults), enough to cross the 2% threshold;
  the cause (reordering at the queue's edge, or how the counter treats late
  packets) is not established.
  RED then costs upload until 30 s without loss. Not fixed here.
- **Opus in-band FEC** stays on (the browsers' default \`useinbandfec=1\`):
  it is what the defaults recover with (the FEC column), and RED recovers
  first when it is on.
- **More redundancy is not available to a page.** RFC 2198 lets the
  receiver ask for two or three redundant copies
  (\`a=fmtp:63 111/111/111\`), which would cover the 20% loss row; Chromium 156 ignores
  it: a sender given \`111/111\`, \`111/111/111\` or
  \`111/111/111/111\` sent 153 bytes per packet every time (82 without
  RED). Only a field trial (\`WebRTC-Audio-Red-For-Opus\`) changes it.
- **The noise filter** (RNNoise, opt-in under Settings, off by default):
  the "Noisy speech" table shows what it does to a fan-like noise. It is
  opt-in because it costs CPU in the audio thread of a page that may be
  one of many on a weak phone, adds about 10 ms of delay (it works on 10 ms
  frames), and may clip the onset of quiet words; the browser's own noise suppression stays on by
  default. Its code (a 65 KB worklet and a 150 KB WebAssembly build, SIMD
  where the engine validates it) is fetched only when it is switched on,
  so the main bundle does not grow.
- **DTX is on** in the tuned path (\`usedtx=1\`, \`withDtx\` in
  \`public/audio_codecs.ts\`): the "quiet talker" table shows the upload it
  saves for someone who listens more than they talk, which is everyone but
  one in a mesh, on every one of their streams. Its costs show in the same
  run: the latency rows measure a click train with silence between clicks,
  so DTX is active there for the tuned calls and not for the defaults, and
  the concealment columns count comfort noise the way the browser reports
  it. **Bitrate**: no cap beyond Chromium's default (~30 kbit/s of
  payload for mono voice, the "sent" column at clean). **Mono**: Chromium
  sends mono from a mono microphone and Parley never asks for stereo.
- **One ICE restart per outage** (\`public/ice_restart.ts\`): only the
  impolite side restarts (3 s after \`disconnected\`); the polite side waits
  3 s longer and restarts only if the other did not; no second restart
  within 10 s. The old client restarted on both sides. Chromium notices an
  outage about 7 s into it here, so a 10 s outage often ends before any
  restart is due, and the ICE session simply resumes (0 or 1 restart in the
  table). \`tests/call_quality_test.ts\` uses a 15 s outage, where the old
  client made two restarts and this one makes one, with audio back 0.1–0.3 s
  after the network.

## Limits

- Two cores shared with other engineers' browser tests (the load average
  is under Figures): figures move from run to run, and CPU starvation shows
  up as concealment and long jitter buffers (200–460 ms) even on the clean
  network. Compare the tuned and default columns of one run (they ran at the
  same moments) rather than runs with each other. Mouth-to-ear suffers most:
  a run on 2026-12-03 with 120–140 ms jitter buffers measured 65–87 ms p50
  on the clean network for both variants (plain Opus in both), another the
  same day 130–150 ms; neither meets the 80 ms target on this machine under
  this load, and the latency rows say nothing about RED except under loss.
- The STOI column is not trustworthy yet: it varies from 0.6 to 0.99 in
  conditions where nothing was concealed, so the recording (an AudioWorklet
  in a starved page drops blocks) or its alignment is disturbed by the load.
  The metric itself is checked in \`stoi_test.ts\` (clean 1.0; white noise
  at 20/5/0/−5 dB: 0.98/0.86/0.76/0.66; 5/20/50% of 20 ms frames zeroed:
  0.97/0.88/0.62; other speech 0.19); the recordings are kept as WAV in
  \`test-artifacts/\` for listening and scoring again.
- The 64 kbit/s row mixes RED's few seconds before its backoff with plain
  Opus after it, within one window; plain Opus alone (the defaults) did
  better there.
- Loss is random (Bernoulli), not bursty; real Wi-Fi loss comes in bursts,
  where RED's one-packet distance helps less.
- Loopback has no real propagation, no cross traffic and no sound card.
- STOI is scored on one direction of each call per condition, on synthetic
  speech (espeak-ng).
- The noise filter is measured on one noise (seeded pink noise, steady) at
  one SNR (5 dB), on synthetic speech; babble, music or sudden noises
  (a door, a keyboard) are not measured. STOI is not the figure for it: it
  scores the envelope of the speech, which noise suppressors keep or
  slightly damage, and here it moves with the load (two runs of this phase
  on 2026-12-04: 0.85 and 0.73 with the filter, 0.86 and 0.58 without).
  Speech over floor shows what the filter does, and it held in both runs:
  42.0 and 43.1 dB with the filter, 30.7 and 30.9 with the browser's noise
  suppression, 14.8 and 14.7 with neither (12.3 at the input). The filter's
  concealment (2.5% in one run, 0 in the other) is the starved audio thread
  of a loaded page, not the network, which was clean.
`;

const NOISE_METHOD =
  `- **A quiet talker (DTX).** Both calls' microphones say the sentence
  and then hear 20 s of a quiet room (white noise at −60 dBFS), looped; over
  one whole loop, each side's sent RTP payload and packets per second, and
  what the other side conceals.
- **Noisy speech.** The lab's sentence with seeded pink noise added at
  5 dB below its active speech level (\`bench/calls/noise.ts\`, in
  TypeScript; checked in \`noise_test.ts\`) is every microphone of three
  calls at once on the clean network: one with Parley's noise filter
  (RNNoise, \`public/noise_filter.ts\`), one with the browser's own noise
  suppression, one with neither (echo cancellation and AGC off in all
  three). What one side of each call receives is recorded and scored
  against the clean sentence with STOI, and by its **speech over floor**:
  the 95th percentile of 20 ms frame power over the 10th, in dB, which
  needs no alignment. The noisy input itself is scored the same way.
`;

if (import.meta.main) {
  const runs = Math.max(1, Number(Deno.env.get("CALLS_RUNS") ?? 1) || 1);
  const windowSec = Number(Deno.env.get("CALLS_WINDOW_SEC") ?? 12) || 12;
  const from = Deno.env.get("CALLS_FROM");
  const results: LabResult[] = from
    ? JSON.parse(await Deno.readTextFile(from))
    : [];
  for (let i = 0; !from && i < runs; i++) {
    console.error(`bench:calls: run ${i + 1} of ${runs}`);
    results.push(await runOnce());
  }
  const version = await new Deno.Command("/usr/lib/chromium/chromium", {
    args: ["--version"],
    stdout: "piped",
    stderr: "null",
  }).output().then((o) => new TextDecoder().decode(o.stdout).trim())
    .catch(() => "Chromium");
  const doc = renderDoc(results, {
    date: new Date().toISOString().slice(0, 10),
    cpu: cpuModel(),
    chromium: version,
    windowSec,
  });
  const out = Deno.env.get("CALLS_OUT") ?? `${ROOT}docs/call-quality.md`;
  if (out === "-") console.log(doc);
  else {
    await Deno.writeTextFile(out, doc);
    // The tables come out unaligned; deno fmt keeps the repository's check.
    await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", out],
      stdout: "null",
      stderr: "null",
    }).output();
    console.error(`bench:calls: wrote ${out}`);
  }
  if (!from) {
    await Deno.mkdir(`${ROOT}test-artifacts`, { recursive: true });
    await Deno.writeTextFile(
      `${ROOT}test-artifacts/call-quality.json`,
      JSON.stringify(results, null, 1),
    );
  }
  if (results.some((r) => !r.ok)) Deno.exit(1);
}

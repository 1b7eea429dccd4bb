/**
 * Steps the end-to-end scenarios share, engine-neutral: join through the
 * UI, read who is listed, prove audio flows (packets rising, and energy or
 * loudness rising), prove which tone is heard, and start coturn.
 *
 * @module
 */
import { join } from "node:path";
import { delay, eventually } from "../support/wait.ts";
import {
  attributeOf,
  heardTones,
  inboundAudio,
  inputValue,
  isShown,
  type TestPage,
} from "./page.ts";

/** A failed check in a scenario. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Waits until an element matching `selector` (holding `text`) is shown. */
export function waitShown(
  page: TestPage,
  selector: string,
  options: { text?: string; timeoutMs?: number } = {},
): Promise<true> {
  return eventually(
    async () => (await isShown(page, selector, options.text)) || undefined,
    `${page.label} to show ${selector}${
      options.text ? ` with "${options.text}"` : ""
    }`,
    { timeoutMs: options.timeoutMs ?? 15_000, intervalMs: 100 },
  );
}

/** Waits until the app is in `phase` (and, if given, signaling `status`). */
export function waitPhase(
  page: TestPage,
  phase: "start" | "call",
  options: { signaling?: string; timeoutMs?: number } = {},
): Promise<true> {
  const signaling = options.signaling
    ? `[data-signaling="${options.signaling}"]`
    : "";
  return waitShown(page, `.app[data-phase="${phase}"]${signaling}`, options);
}

/** Opens the app and joins through the UI; returns the Join click time. */
export async function joinCall(
  page: TestPage,
  origin: string,
  options: { room?: string; name: string; screenshot?: string },
): Promise<{ room: string; clickedAt: number }> {
  await page.goto(options.room ? `${origin}/r/${options.room}` : `${origin}/`);
  if (options.room) {
    assert(
      await inputValue(page, "Room") === options.room,
      `${page.label}: /r/<room> did not fill the Room field`,
    );
  } else {
    await page.click("button", "Create room");
  }
  const room = await inputValue(page, "Room");
  await page.fill("Your name (optional)", options.name);
  if (options.screenshot) {
    await page.click("button", "Test microphone");
    await waitShown(page, "button", { text: "Microphone on" });
    await delay(300);
    await page.screenshot(options.screenshot);
    await page.setViewport(360, 800);
    await page.screenshot(options.screenshot.replace(/\.png$/, "-360.png"));
    await page.setViewport(1100, 900);
  }
  const clickedAt = performance.now();
  await page.click("button", "Join");
  await waitPhase(page, "call");
  return { room, clickedAt };
}

/** The peer ID the app shows for itself. */
export async function selfId(page: TestPage): Promise<string> {
  return await attributeOf(page, ".app", "data-self-id") ?? "";
}

/** Peer IDs in the participant list, sorted. */
export function listedPeers(page: TestPage): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>("li.person")]
      .map((item) => item.dataset.peerId ?? "").sort()
  );
}

/** Waits until `page` lists exactly `ids`. */
export function waitListed(page: TestPage, ids: string[]): Promise<true> {
  const want = JSON.stringify([...ids].sort());
  return eventually(
    async () => JSON.stringify(await listedPeers(page)) === want || undefined,
    `${page.label} to list ${want}`,
  );
}

/**
 * Waits until `page` has `peers` open connections, each receiving audio:
 * packets rising between two samples a second apart, and the energy the
 * engine reports (or, where it reports none, the loudness its `<audio>`
 * elements play) above zero.
 */
export async function receivesAudioFromAll(
  page: TestPage,
  peers: number,
): Promise<void> {
  await eventually(
    async () => {
      const first = await inboundAudio(page);
      if (first.length !== peers) return false;
      await delay(1_000);
      const second = await inboundAudio(page);
      if (second.length !== peers) return false;
      const packets = second.every((s, i) =>
        s.packetsReceived > first[i].packetsReceived
      );
      if (!packets) return false;
      if (second.every((s) => s.totalAudioEnergy !== undefined)) {
        return second.every((s, i) =>
          (s.totalAudioEnergy ?? 0) > (first[i].totalAudioEnergy ?? 0)
        );
      }
      const heard = await heardTones(page);
      return heard.length === peers && heard.every((h) => h.rms > 1e-3);
    },
    `${page.label} to receive audio from ${peers} peer(s)`,
    { timeoutMs: 25_000, intervalMs: 200 },
  );
}

/**
 * How loud what `page` receives is during `ms`: the energy summed over its
 * connections where the engine reports it, else the loudest RMS its
 * `<audio>` elements play. Only ratios of two readings mean anything.
 */
export async function loudnessOver(
  page: TestPage,
  ms: number,
): Promise<number> {
  const before = await inboundAudio(page);
  if (before.some((s) => s.totalAudioEnergy === undefined)) {
    const heard = await heardTones(page, ms);
    return Math.max(0, ...heard.map((h) => h.rms));
  }
  const sum = (xs: { totalAudioEnergy?: number }[]) =>
    xs.reduce((a, s) => a + (s.totalAudioEnergy ?? 0), 0);
  await delay(ms);
  return sum(await inboundAudio(page)) - sum(before);
}

/**
 * Waits until `page` hears a tone of `hz` (±15 Hz) from the peer `from`:
 * proves which audio travels in which direction.
 */
export function hearsTone(
  page: TestPage,
  from: string,
  hz: number,
): Promise<true> {
  let last = "";
  return eventually(
    async () => {
      const heard = await heardTones(page);
      last = JSON.stringify(heard);
      const h = heard.find((h) => h.peerId === from);
      return (h !== undefined && Math.abs(h.pitchHz - hz) <= 15) || undefined;
    },
    `${page.label} to hear ${hz} Hz from ${from} (last: ${last})`,
    { timeoutMs: 15_000, intervalMs: 200 },
  );
}

/**
 * Mutes `speaker` through its Mute button and checks that what `listener`
 * receives goes silent, then comes back on unmute. Returns the readings.
 */
export async function muteSilences(
  speaker: TestPage,
  listener: TestPage,
): Promise<{ loud: number; silent: number; back: number }> {
  const loud = await loudnessOver(listener, 1_500);
  await speaker.click("button", "Mute");
  assert(
    await attributeOf(speaker, "button.mute", "aria-pressed") === "true",
    `${speaker.label}: Mute is not pressed`,
  );
  await delay(1_000);
  const silent = await loudnessOver(listener, 1_500);
  await speaker.click("button", "Mute");
  await delay(1_000);
  const back = await loudnessOver(listener, 1_500);
  assert(loud > 0, `${listener.label} heard nothing before the mute`);
  assert(
    silent < loud * 0.02,
    `${listener.label} kept hearing ${speaker.label} while muted: ${silent} of ${loud}`,
  );
  assert(
    back > loud * 0.2,
    `${listener.label} did not hear ${speaker.label} again after unmute: ${back} of ${loud}`,
  );
  return { loud, silent, back };
}

/** Turns the three processing options off (steady tones survive them). */
export async function processingOff(page: TestPage): Promise<void> {
  for (
    const label of [
      "Echo cancellation",
      "Noise suppression",
      "Auto gain control",
    ]
  ) {
    await page.setChecked(label, false);
  }
}

/** The statistics panel of the participant `peerId`, term → value. */
export function statsPanel(
  page: TestPage,
  peerId: string,
): Promise<Record<string, string>> {
  return page.evaluate((peerId) => {
    const item = document.querySelector(`li.person[data-peer-id="${peerId}"]`);
    const out: Record<string, string> = {};
    for (const dt of item?.querySelectorAll(".stats dt") ?? []) {
      out[dt.textContent ?? ""] = dt.nextElementSibling?.textContent ?? "";
    }
    return out;
  }, peerId);
}

/**
 * Waits until the statistics panel of `peerId` on `page` shows live values:
 * a round trip, jitter, loss, incoming bitrate above zero, the Opus codec
 * and both candidate types.
 */
export function statsLookLive(
  page: TestPage,
  peerId: string,
): Promise<Record<string, string>> {
  let last = {};
  return eventually(
    async () => {
      const s = last = await statsPanel(page, peerId);
      const inKbps = Number(/^([\d.]+) kbit\/s/.exec(s["In / out"] ?? "")?.[1]);
      const ok = /^\d+ ms$/.test(s["Round trip"] ?? "") &&
        /^[\d.]+ ms$/.test(s["Jitter"] ?? "") &&
        /^[\d.]+ %$/.test(s["Packet loss"] ?? "") &&
        inKbps > 0 &&
        /^opus$/i.test(s["Codec"] ?? "") &&
        /^(host|srflx|prflx|relay) → (host|srflx|prflx|relay)$/.test(
          s["Candidates"] ?? "",
        );
      return ok ? s : undefined;
    },
    `${page.label}'s statistics of ${peerId} to show live values (last: ${
      JSON.stringify(last)
    })`,
    { timeoutMs: 15_000, intervalMs: 250 },
  );
}

/** A free TCP/UDP port number on loopback (for coturn). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts coturn on loopback with REST credentials (`tests/e2e/README.md`). */
export async function startTurn(
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

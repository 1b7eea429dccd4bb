/**
 * Steps the end-to-end scenarios share, engine-neutral: join through the
 * UI, read who is listed, prove audio flows (packets rising, and energy or
 * loudness rising), prove which tone is heard, and start coturn. Pages are
 * read the way a screen reader user meets them: controls and tiles by role
 * and accessible name (a participant's tile is a list item named after
 * them), and their text.
 *
 * @module
 */
import { join } from "node:path";
import { delay, eventually } from "../support/wait.ts";
import { heardTones, inboundAudio, type Role, type TestPage } from "./page.ts";

/** A failed check in a scenario. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Whether an element with this role (and name) is there right now. */
export async function has(
  page: TestPage,
  role: Role,
  name?: string,
): Promise<boolean> {
  return (await page.texts(role, name)).length > 0;
}

/** Waits until an element with this role and name shows. */
export function waitFor(
  page: TestPage,
  role: Role,
  name: string,
  timeoutMs = 15_000,
): Promise<true> {
  return eventually(
    async () => (await has(page, role, name)) || undefined,
    `${page.label} to show the ${role} "${name}"`,
    { timeoutMs, intervalMs: 100 },
  );
}

/** Waits until an alert says `text`. */
export function waitAlert(
  page: TestPage,
  text: string,
  timeoutMs = 15_000,
): Promise<true> {
  return eventually(
    async () =>
      (await page.texts("alert")).some((t) => t.includes(text)) || undefined,
    `${page.label} to alert "${text}"`,
    { timeoutMs, intervalMs: 100 },
  );
}

/** The text of `name`'s tile on `page` ("" when not listed). */
export async function tileText(page: TestPage, name: string): Promise<string> {
  return (await page.texts("listitem", name)).join(" ");
}

/** Waits until `name`'s tile on `page` says `text`. */
export function waitTile(
  page: TestPage,
  name: string,
  text: string,
  timeoutMs = 15_000,
): Promise<true> {
  let last = "";
  return eventually(
    async () => {
      last = await tileText(page, name);
      return last.includes(text) || undefined;
    },
    `${page.label}: ${name}'s tile to say "${text}" (last: "${last}")`,
    { timeoutMs, intervalMs: 100 },
  );
}

/** The connection state `name`'s tile shows on `page`. */
export function tileState(page: TestPage, name: string): Promise<string> {
  return page.evaluateOn(
    "listitem",
    name,
    (li) => (li as HTMLElement).dataset.state ?? "",
  );
}

const SIGNALING_TEXT: Record<string, string> = {
  open: "Connected",
  reconnecting: "Reconnecting to the server",
};

/**
 * Waits until the app shows the `phase` page: in the call, its Leave
 * button; on the start page, its Join button. With `signaling`, also until
 * the header says the server connection is open or reconnecting.
 */
export function waitPhase(
  page: TestPage,
  phase: "start" | "call",
  options: { signaling?: "open" | "reconnecting"; timeoutMs?: number } = {},
): Promise<true> {
  const button = phase === "call" ? "Leave" : "Join";
  const words = options.signaling ? SIGNALING_TEXT[options.signaling] : "";
  return eventually(
    async () => {
      if (!(await has(page, "button", button))) return undefined;
      if (!words) return true;
      const [status = ""] = await page.texts("status", "Server connection");
      return status.includes(words) || undefined;
    },
    `${page.label} to show the ${phase} page${
      words ? ` saying "${words}"` : ""
    }`,
    { timeoutMs: options.timeoutMs ?? 15_000, intervalMs: 100 },
  );
}

/** The value of the text box named `name`. */
export function inputValue(page: TestPage, name: string): Promise<string> {
  return page.evaluateOn(
    "textbox",
    name,
    (el) => (el as HTMLInputElement).value,
  );
}

/**
 * Opens the audio settings dialog (from the call's Settings or the start
 * page's Audio settings), runs `fn`, and closes it again.
 */
export async function inSettings<T>(
  page: TestPage,
  fn: () => Promise<T>,
): Promise<T> {
  const opener = (await has(page, "button", "Settings"))
    ? "Settings"
    : "Audio settings";
  await page.click("button", opener);
  await waitFor(page, "dialog", "Audio settings");
  const result = await fn();
  await page.click("button", "Close");
  return result;
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
    await waitFor(page, "button", "Microphone on");
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

/**
 * The peer ID the app shows for itself (the app's one test hook: peer IDs
 * are not shown to users, and the scenarios compare them across pages).
 */
export async function selfId(page: TestPage): Promise<string> {
  return await page.evaluate(() =>
    document.querySelector(".app")?.getAttribute("data-self-id") ?? ""
  );
}

/** A participant as another page should list them. */
export interface Listed {
  name: string;
  peerId: string;
}

/** Peer IDs of the others in the list named Participants, sorted. */
export function listedPeers(page: TestPage): Promise<string[]> {
  return page.evaluateOn(
    "list",
    "Participants",
    (list) =>
      [...list.querySelectorAll<HTMLElement>(":scope > li")]
        .filter((li) => li.dataset.state !== undefined)
        .map((li) => li.dataset.peerId ?? "").sort(),
  );
}

/**
 * Waits until `page` lists exactly `others` (and itself): each as one list
 * item named after them, carrying their peer ID.
 */
export function waitListed(page: TestPage, others: Listed[]): Promise<true> {
  const want = JSON.stringify(others.map((o) => o.peerId).sort());
  let last = "";
  return eventually(
    async () => {
      last = JSON.stringify(await listedPeers(page));
      if (last !== want) return undefined;
      for (const other of others) {
        const ids = await page.texts("listitem", other.name);
        if (ids.length !== 1) return undefined;
        const id = await page.evaluateOn(
          "listitem",
          other.name,
          (li) => (li as HTMLElement).dataset.peerId,
        );
        if (id !== other.peerId) return undefined;
      }
      return true;
    },
    `${page.label} to list ${
      others.map((o) => o.name).join(", ") || "nobody"
    } (${want}; last ${last})`,
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
 * receives goes silent, then comes back on unmute; with `speakerName`, also
 * that the listener's tile of the speaker says "muted", then no longer.
 * Returns the readings.
 */
export async function muteSilences(
  speaker: TestPage,
  listener: TestPage,
  speakerName?: string,
): Promise<{ loud: number; silent: number; back: number }> {
  const pressed = () =>
    speaker.evaluateOn("button", "Mute", (b) => b.getAttribute("aria-pressed"));
  const loud = await loudnessOver(listener, 1_500);
  await speaker.click("button", "Mute");
  assert(await pressed() === "true", `${speaker.label}: Mute is not pressed`);
  if (speakerName) await waitTile(listener, speakerName, "muted");
  await delay(1_000);
  const silent = await loudnessOver(listener, 1_500);
  await speaker.click("button", "Mute");
  assert(await pressed() === "false", `${speaker.label}: Mute stays pressed`);
  if (speakerName) {
    await eventually(
      async () => !(await tileText(listener, speakerName)).includes("muted"),
      `${listener.label}: ${speakerName}'s tile to stop saying muted`,
    );
  }
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

/**
 * Turns the three processing options off in the settings dialog (steady
 * tones survive them).
 */
export async function processingOff(page: TestPage): Promise<void> {
  await inSettings(page, async () => {
    for (
      const label of [
        "Echo cancellation",
        "Noise suppression",
        "Auto gain control",
      ]
    ) {
      await page.setChecked(label, false);
    }
  });
}

/**
 * The statistics panel of `name`'s tile, term → value, opened through its
 * "Statistics for <name>" button if closed.
 */
export async function statsPanel(
  page: TestPage,
  name: string,
): Promise<Record<string, string>> {
  const button = `Statistics for ${name}`;
  const expanded = await page.evaluateOn(
    "button",
    button,
    (b) => b.getAttribute("aria-expanded"),
  );
  if (expanded !== "true") await page.click("button", button);
  return await page.evaluateOn("listitem", name, (item) => {
    const out: Record<string, string> = {};
    for (const dt of item.querySelectorAll("dt")) {
      out[dt.textContent ?? ""] = dt.nextElementSibling?.textContent ?? "";
    }
    return out;
  });
}

/**
 * Waits until the statistics panel of `name` on `page` shows live values:
 * a round trip, jitter, loss, incoming bitrate above zero, the Opus codec
 * and both candidate types; and the tile a quality summary.
 */
export function statsLookLive(
  page: TestPage,
  name: string,
): Promise<Record<string, string>> {
  let last = {};
  return eventually(
    async () => {
      const s = last = await statsPanel(page, name);
      const inKbps = Number(/^([\d.]+) kbit\/s/.exec(s["In / out"] ?? "")?.[1]);
      const ok = /^\d+ ms$/.test(s["Round trip"] ?? "") &&
        /^[\d.]+ ms$/.test(s["Jitter"] ?? "") &&
        /^[\d.]+ %$/.test(s["Packet loss"] ?? "") &&
        inKbps > 0 &&
        /^opus$/i.test(s["Codec"] ?? "") &&
        /^(host|srflx|prflx|relay) → (host|srflx|prflx|relay)$/.test(
          s["Candidates"] ?? "",
        ) &&
        /quality: (good|fair|poor)/.test(await tileText(page, name));
      return ok ? s : undefined;
    },
    `${page.label}'s statistics of ${name} to show live values (last: ${
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

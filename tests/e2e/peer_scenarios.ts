/**
 * End-to-end scenarios of what travels peer to peer over the data channel
 * (issue 14): chat and raised hands among three browsers (and none of it in
 * the server's logs or database), the safety code two honest browsers
 * agree on, and a man in the middle that makes the codes differ.
 *
 * The man in the middle is what a malicious signaling server could do: a
 * proxy in this process serves the app from the real server and relays its
 * WebSocket, but diverts every `signal` to a third browser page
 * ("Mallory"). That page answers each victim with its own
 * RTCPeerConnection, so it terminates each side's DTLS with its own
 * certificate, and bridges the two: audio, and data channel messages
 * (including the automatic check's proofs), relayed both ways. The victims
 * connect, hear each other and can chat: only the safety code tells.
 *
 * @module
 */
import { join } from "node:path";
import { launchBrowser, makeTone, type TestBrowser } from "./browser.ts";
import { launchFirefox } from "./firefox.ts";
import type { TestPage } from "./page.ts";
import {
  axeViolations,
  type Scenario,
  type ScenarioContext,
} from "./scenarios.ts";
import {
  assert,
  has,
  joinCall,
  receivesAudioFromAll,
  tileText,
  waitAlert,
  waitFor,
  waitPhase,
  waitTile,
} from "./steps.ts";
import axe from "axe-core";
import { delay, eventually } from "../support/wait.ts";
import { type SpawnedServer, spawnServer } from "../support/server.ts";
import { freePort, redisServerArgs } from "../../testing/redis.ts";
import { safetyCode } from "../../public/safety_code.ts";

/** Records every data channel the app creates, in `window.__channels`. */
const RECORD_CHANNELS = `(() => {
  const proto = window.RTCPeerConnection && window.RTCPeerConnection.prototype;
  if (!proto) return;
  const native = proto.createDataChannel;
  const channels = [];
  Object.defineProperty(window, "__channels", { value: channels });
  proto.createDataChannel = function (...args) {
    const channel = native.apply(this, args);
    channels.push(channel);
    return channel;
  };
})();`;

/** A launched person of these scenarios. */
export interface Person {
  name: string;
  hz: number;
  browser: TestBrowser;
  page: TestPage;
}

/** Launches a browser (Chromium, or Firefox) for `name`, playing `hz`. */
export async function launch(
  context: ScenarioContext,
  stack: AsyncDisposableStack,
  name: string,
  hz: number,
  options: { axe?: boolean; firefox?: boolean } = {},
): Promise<Person> {
  // axe-core only where a scenario runs it: 1.4 MB of script per page.
  const source = options.axe
    ? `\n${(axe as unknown as { source: string }).source}`
    : "";
  const initScript = RECORD_CHANNELS + source;
  const browser = stack.use(
    options.firefox
      ? await launchFirefox(
        name.toLowerCase(),
        hz,
        context.tmp,
        await context.pulse(),
        { initScript },
      )
      : await launchBrowser(
        name.toLowerCase(),
        await makeTone(context.tmp, hz),
        context.tmp,
        { initScript },
      ),
  );
  context.watch(browser.page);
  return { name, hz, browser, page: browser.page };
}

/** Opens `url` (a room link, maybe with a #fragment) and joins as `name`. */
export async function joinByLink(
  page: TestPage,
  url: string,
  name: string,
): Promise<void> {
  await page.goto(url);
  await page.fill("Your name (optional)", name);
  await page.click("button", "Join");
  await waitPhase(page, "call");
}

/** The chat messages `page` shows, as text. */
function chatLog(page: TestPage): Promise<string[]> {
  return page.evaluateOn(
    "log",
    "Messages",
    (log) => [...log.querySelectorAll("li")].map((li) => li.textContent ?? ""),
  );
}

function waitChat(page: TestPage, text: string): Promise<true> {
  let last: string[] = [];
  return eventually(
    async () => {
      last = await chatLog(page);
      return last.some((line) => line.includes(text)) || undefined;
    },
    `${page.label}'s chat to show "${text.slice(0, 40)}" (last: ${
      JSON.stringify(last).slice(0, 300)
    })`,
    { timeoutMs: 15_000, intervalMs: 100 },
  );
}

/** Opens Verify for `name` on `page` and returns the code it shows. */
async function readCode(page: TestPage, name: string): Promise<string> {
  await eventually(
    () =>
      page.evaluateOn(
        "button",
        `Verify ${name}`,
        (b) => !(b as HTMLButtonElement).disabled || undefined,
      ),
    `${page.label}: Verify ${name} to be enabled`,
    { timeoutMs: 15_000, intervalMs: 100 },
  );
  await page.click("button", `Verify ${name}`);
  await waitFor(page, "dialog", `Safety code with ${name}`);
  return await page.evaluateOn(
    "dialog",
    `Safety code with ${name}`,
    (d) => d.querySelector(".safety-code")?.textContent ?? "",
  );
}

/** The text of the open Verify dialog for `name`. */
function dialogText(page: TestPage, name: string): Promise<string> {
  return page.evaluateOn(
    "dialog",
    `Safety code with ${name}`,
    (d) => d.textContent ?? "",
  );
}

/** The fingerprints each live RTCPeerConnection of `page` negotiated. */
function pageFingerprints(
  page: TestPage,
): Promise<{ local: string; remote: string }[]> {
  return page.evaluate(async () => {
    const pcs = (globalThis as unknown as { __pcs: RTCPeerConnection[] })
      .__pcs.filter((pc) => pc.connectionState === "connected");
    return await Promise.all(pcs.map(async (pc) => {
      const byId = new Map<string, Record<string, unknown>>();
      (await pc.getStats()).forEach((s) => byId.set(s.id, s));
      const fp = (id: unknown) => {
        const c = byId.get(String(id));
        return `${String(c?.fingerprintAlgorithm).toLowerCase()} ${
          String(c?.fingerprint).toUpperCase()
        }`;
      };
      for (const s of byId.values()) {
        if (s.type === "transport" && s.remoteCertificateId) {
          return {
            local: fp(s.localCertificateId),
            remote: fp(s.remoteCertificateId),
          };
        }
      }
      return { local: "", remote: "" };
    }));
  });
}

/** axe-core's WCAG 2.1 A/AA rules on `page`, light and dark: none broken. */
export async function axeClean(
  context: ScenarioContext,
  page: TestPage,
  what: string,
): Promise<void> {
  const found: string[] = [];
  for (const scheme of ["light", "dark"] as const) {
    await page.setColorScheme(scheme);
    await delay(150);
    const violations = await axeViolations(page);
    context.metrics[`axe ${what} (${scheme})`] = violations.length;
    for (const v of violations) {
      found.push(`${what} (${scheme}): ${v.id} ${v.help} ${v.nodes[0]}`);
    }
  }
  await page.setColorScheme("light");
  assert(found.length === 0, found.join("\n"));
}

/** Every file of the SQLite database (main, WAL, shared memory), as bytes. */
async function databaseBytes(tmp: string): Promise<Uint8Array[]> {
  const files: Uint8Array[] = [];
  for await (const entry of Deno.readDir(tmp)) {
    if (entry.name.startsWith("parley.db")) {
      files.push(await Deno.readFile(join(tmp, entry.name)));
    }
  }
  return files;
}

/** Every file under `dir` (Redis's append-only files), as bytes. */
async function filesUnder(dir: string): Promise<Uint8Array[]> {
  const files: Uint8Array[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...await filesUnder(path));
    else if (entry.isFile) files.push(await Deno.readFile(path));
  }
  return files;
}

/**
 * A private `redis-server` (append-only file synced on every write) under
 * `dir`, and a second Parley server on it; `context.server` stays unused.
 */
async function serverOnRedis(
  context: ScenarioContext,
  stack: AsyncDisposableStack,
  dir: string,
): Promise<SpawnedServer> {
  const url = await startRedisIn(stack, dir);
  return stack.use(
    await spawnServer({ env: { ...context.env, REDIS_URL: url } }),
  );
}

/**
 * A private `redis-server` (append-only, in `dir`) stopped with `stack`;
 * returns its URL.
 */
export async function startRedisIn(
  stack: AsyncDisposableStack,
  dir: string,
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const port = freePort();
  const redis = new Deno.Command("redis-server", {
    args: redisServerArgs(port, dir, "always"),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  stack.defer(async () => {
    try {
      redis.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await redis.status;
  });
  await eventually(async () => {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      return undefined;
    }
  }, "redis-server to listen");
  return `redis://127.0.0.1:${port}`;
}

function includesBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

/**
 * Three browsers chat and raise hands; the server never sees any of it.
 * With `redis`, the server keeps its rooms in a private Redis, whose
 * append-only file is searched instead of the SQLite files.
 */
function chatScenario(options: { redis?: boolean } = {}): Scenario {
  return {
    env: { DEBUG: "true" },
    async run(context) {
      await using stack = new AsyncDisposableStack();
      const redisDir = join(context.tmp, "redis");
      const server = options.redis
        ? await serverOnRedis(context, stack, redisDir)
        : context.server;
      const storeName = options.redis
        ? "Redis append-only file"
        : "SQLite file";
      const ada = await launch(context, stack, "Ada", 440);
      const grace = await launch(context, stack, "Grace", 1000);
      const lin = await launch(context, stack, "Lin", 660);
      const origin = server.origin;
      const { room } = await joinCall(ada.page, origin, { name: "Ada" });
      await joinCall(grace.page, origin, { room, name: "Grace" });
      await waitTile(ada.page, "Grace", "connected");
      await waitTile(grace.page, "Ada", "connected");

      await grace.page.click("button", "Raise hand");
      await waitTile(ada.page, "Grace", "hand raised");
      await waitTile(grace.page, "Grace (you)", "hand raised");
      context.pass("Grace raises her hand: Ada's page shows it on her tile");

      // Lin joins after the hand went up: the channel's opening tells her.
      await joinCall(lin.page, origin, { room, name: "Lin" });
      await waitTile(lin.page, "Grace", "hand raised");
      await waitTile(lin.page, "Ada", "connected");
      assert(
        !(await tileText(lin.page, "Ada")).includes("hand raised"),
        "Ada's hand shows raised on Lin's page",
      );
      context.pass("Lin joins later and sees Grace's raised hand (not Ada's)");

      const unique = `secret-chat-${crypto.randomUUID()}`;
      const text = `${unique} <b>not bold</b> <img src=x onerror=alert(1)>`;
      await ada.page.fill("Message", text);
      await ada.page.click("button", "Send");
      await waitChat(ada.page, text);
      for (const p of [grace, lin]) {
        await waitChat(p.page, text);
        const line = (await chatLog(p.page)).find((l) => l.includes(unique));
        assert(line?.startsWith("Ada"), `${p.name} shows no sender: ${line}`);
        const markup = await p.page.evaluateOn(
          "log",
          "Messages",
          (log) => log.querySelectorAll("b, img").length,
        );
        assert(markup === 0, `${p.name}'s chat rendered HTML`);
      }
      context.pass(
        "a message Ada sends appears on Grace's and Lin's pages under her name, as text (no HTML)",
      );

      // Limits on receipt: a peer that skips the text box's 500-character
      // limit is ignored past it. Lin sends raw messages on her channels.
      const sent = await lin.page.evaluate((marker) => {
        const channels = (globalThis as unknown as {
          __channels: RTCDataChannel[];
        }).__channels.filter((c) => c.readyState === "open");
        const send = (text: string) =>
          channels.forEach((c) =>
            c.send(JSON.stringify({ type: "chat", text, ts: Date.now() }))
          );
        send(`${marker}-501-` + "y".repeat(501 - marker.length - 5));
        send(`${marker}-500-` + "y".repeat(500 - marker.length - 5));
        return channels.length;
      }, "limit");
      assert(sent === 2, `Lin has ${sent} open channels, not 2`);
      await waitChat(ada.page, "limit-500-");
      assert(
        !(await chatLog(ada.page)).some((l) => l.includes("limit-501-")),
        "a 501-character message was shown",
      );
      const box = await ada.page.evaluateOn(
        "textbox",
        "Message",
        (el) => (el as HTMLInputElement).maxLength,
      );
      assert(box === 500, `the Message box allows ${box} characters`);
      context.pass(
        "a 500-character message arrives, a 501-character one is dropped, and the text box stops at 500",
      );
      await Deno.mkdir(context.artifacts, { recursive: true });
      await lin.page.screenshot(join(context.artifacts, "chat-lin.png"));

      await grace.page.click("button", "Raise hand");
      await eventually(
        async () =>
          !(await tileText(ada.page, "Grace")).includes("hand raised"),
        "Ada's page to show Grace's hand lowered",
      );
      await eventually(
        async () =>
          !(await tileText(lin.page, "Grace")).includes("hand raised"),
        "Lin's page to show Grace's hand lowered",
      );
      context.pass("Grace lowers her hand: it goes from the others' pages");

      // One certificate per browser per call: Ada's two connections share it.
      const adaPrints = await pageFingerprints(ada.page);
      assert(
        adaPrints.length === 2 && adaPrints[0].local === adaPrints[1].local &&
          adaPrints[0].remote !== adaPrints[1].remote,
        `Ada's connections do not share one certificate: ${
          JSON.stringify(adaPrints)
        }`,
      );
      context.pass(
        "Ada uses one DTLS certificate for both her connections",
      );

      const logs = server.logs.join("\n");
      const files = options.redis
        ? await filesUnder(redisDir)
        : await databaseBytes(context.tmp);
      const needle = new TextEncoder().encode(unique);
      assert(logs.length > 0, "the server logged nothing");
      assert(files.length > 0, `no ${storeName}`);
      assert(!logs.includes(unique), "the server log holds the chat text");
      assert(!logs.includes("limit-500"), "the server log holds chat text");
      for (const bytes of files) {
        assert(!includesBytes(bytes, needle), `a ${storeName} holds chat text`);
      }
      // The search itself works: the store holds the room ID.
      const roomBytes = new TextEncoder().encode(room);
      const roomStored = files.some((b) => includesBytes(b, roomBytes));
      context.metrics["room ID found in the store (search works)"] = String(
        roomStored,
      );
      assert(roomStored, `the room is not in the ${storeName}`);
      context.metrics["server log lines"] = server.logs.length;
      context.metrics["store bytes"] = files.reduce((n, b) => n + b.length, 0);
      context.pass(
        `the server's log (DEBUG on) and every ${storeName} hold none of the chat text`,
      );
    },
  };
}

/**
 * Two honest browsers with the room secret: same code, checked. With
 * `firefox`, the second is Firefox ESR.
 */
function safety(options: { firefox?: boolean } = {}): Scenario {
  return {
    async run(context) {
      await using stack = new AsyncDisposableStack();
      const ada = await launch(context, stack, "Ada", 440);
      const grace = await launch(context, stack, "Grace", 1000, options);
      const origin = context.server.origin;
      // Create room puts a fresh secret in the link's fragment.
      await ada.page.goto(`${origin}/`);
      await ada.page.click("button", "Create room");
      const link = ada.page.url();
      const secret = /#k=([\w-]+)$/.exec(link)?.[1] ?? "";
      assert(secret.length >= 22, `Create room gave no secret: ${link}`);
      await ada.page.fill("Your name (optional)", "Ada");
      await ada.page.click("button", "Join");
      await waitPhase(ada.page, "call");
      await joinByLink(grace.page, link, "Grace");
      await waitTile(ada.page, "Grace", "verified");
      await waitTile(grace.page, "Ada", "verified");
      context.pass(
        "with the room link's secret, both tiles say verified (the automatic check passed)",
      );

      const adaCode = await readCode(ada.page, "Grace");
      const graceCode = await readCode(grace.page, "Ada");
      assert(/^\d{3} \d{3} \d{3} \d{3}$/.test(adaCode), `odd code ${adaCode}`);
      assert(adaCode === graceCode, `codes differ: ${adaCode} / ${graceCode}`);
      const [prints] = await pageFingerprints(ada.page);
      const expected = await safetyCode(prints.local, prints.remote);
      assert(
        expected === adaCode,
        `code ${adaCode} is not that of the negotiated fingerprints (${expected})`,
      );
      context.metrics.code = adaCode;
      const [gracePrints] = await pageFingerprints(grace.page);
      context.metrics["second browser has certificate stats"] = String(
        /^sha-256 [0-9A-F:]+$/.test(gracePrints?.remote ?? ""),
      );
      assert(
        (await dialogText(ada.page, "Grace")).includes("Checked automatically"),
        "the dialog does not say the automatic check passed",
      );
      context.pass(
        "Ada and Grace see the same 12-digit code, the one of the fingerprints DTLS negotiated",
      );

      await ada.page.click("button", "Codes match");
      await eventually(
        async () =>
          (await dialogText(ada.page, "Grace")).includes(
            "confirmed that the codes match",
          ) ||
          undefined,
        "Ada's dialog to confirm Codes match",
      );
      await ada.page.click("button", "Close");
      assert(
        !(await has(ada.page, "alert")),
        "an alert shows on an honest call",
      );
      const logs = context.server.logs.join("\n");
      assert(!logs.includes(secret), "the server log holds the room secret");
      context.pass(
        "Codes match is recorded; no warning; the server never saw the secret",
      );
    },
  };
}

/**
 * A WebSocket and HTTP proxy in front of the real server that diverts
 * every `signal` to Mallory's page; see the module doc.
 */
function startMitmProxy(
  upstream: string,
): { origin: string; diverted: () => number } & AsyncDisposable {
  const clients = new Map<string, WebSocket>();
  let mallory: WebSocket | undefined;
  let diverted = 0;
  const upstreamWs = upstream.replace(/^http/, "ws") + "/ws";
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/mitm") {
        return new Response("<!doctype html><title>Mallory</title>", {
          headers: { "content-type": "text/html" },
        });
      }
      if (url.pathname === "/mitm-ws") {
        const { socket, response } = Deno.upgradeWebSocket(req);
        mallory = socket;
        socket.onmessage = ({ data }) => {
          const { deliver, from, data: signal } = JSON.parse(String(data));
          const target = clients.get(deliver);
          if (target?.readyState === WebSocket.OPEN) {
            target.send(JSON.stringify({ type: "signal", from, data: signal }));
          }
        };
        return response;
      }
      if (url.pathname === "/ws") {
        const { socket, response } = Deno.upgradeWebSocket(req);
        // Deno takes handshake headers as a non-standard option.
        const up = new WebSocket(upstreamWs, {
          headers: { origin: upstream },
        } as unknown as string[]);
        let self = "";
        const waiting: string[] = [];
        up.onopen = () => waiting.splice(0).forEach((m) => up.send(m));
        up.onmessage = ({ data }) => {
          const text = String(data);
          const message = JSON.parse(text);
          if (message.type === "joined") {
            self = message.peerId;
            clients.set(self, socket);
          }
          if (socket.readyState === WebSocket.OPEN) socket.send(text);
        };
        up.onclose = () => {
          if (socket.readyState === WebSocket.OPEN) socket.close();
        };
        socket.onmessage = ({ data }) => {
          const text = String(data);
          const message = JSON.parse(text);
          if (message.type === "signal" && mallory && self) {
            diverted++;
            mallory.send(
              JSON.stringify({
                from: self,
                to: message.to,
                data: message.data,
              }),
            );
            return;
          }
          if (up.readyState === WebSocket.OPEN) up.send(text);
          else waiting.push(text);
        };
        socket.onclose = () => up.close();
        return response;
      }
      const res = await fetch(upstream + url.pathname + url.search);
      const headers = new Headers(res.headers);
      headers.delete("content-encoding");
      headers.delete("content-length");
      return new Response(res.body, { status: res.status, headers });
    },
  );
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    diverted: () => diverted,
    [Symbol.asyncDispose]: async () => {
      await server.shutdown();
    },
  };
}

/**
 * Mallory's page: one RTCPeerConnection per victim and impersonated peer,
 * bridged in pairs (audio and data channel). Runs in the browser.
 */
function malloryMain(wsUrl: string): Promise<boolean> {
  type Signal = {
    description?: RTCSessionDescriptionInit;
    candidate?: RTCIceCandidateInit | null;
  };
  const ws = new WebSocket(wsUrl);
  const pcs = new Map<string, RTCPeerConnection>();
  const channels = new Map<string, RTCDataChannel>();
  const chains = new Map<string, Promise<void>>();
  const stats = { relayed: 0, pcs };
  (globalThis as unknown as { __mallory: unknown }).__mallory = stats;
  const send = (deliver: string, from: string, data: unknown) =>
    ws.send(JSON.stringify({ deliver, from, data }));
  function make(victim: string, as: string, offerer: boolean) {
    const key = `${victim}|${as}`;
    const pc = new RTCPeerConnection();
    pcs.set(key, pc);
    const channel = pc.createDataChannel("parley", { negotiated: true, id: 0 });
    channels.set(key, channel);
    channel.onmessage = ({ data }) => {
      const other = channels.get(`${as}|${victim}`);
      if (other?.readyState === "open") {
        other.send(data);
        stats.relayed++;
      }
    };
    pc.onicecandidate = ({ candidate }) =>
      send(victim, as, { candidate: candidate ? candidate.toJSON() : null });
    pc.ontrack = ({ track }) => {
      // Chromium feeds a remote track onwards only while something plays it.
      const element = new Audio();
      element.muted = true;
      element.srcObject = new MediaStream([track]);
      element.play().catch(() => {});
      const other = pcs.get(`${as}|${victim}`);
      const sender = other?.getTransceivers().find((t) =>
        t.receiver.track.kind === "audio"
      )?.sender;
      sender?.replaceTrack(track).catch(() => {});
    };
    if (offerer) {
      pc.addTransceiver("audio", { direction: "sendrecv" });
      pc.setLocalDescription().then(() =>
        send(victim, as, { description: pc.localDescription?.toJSON() })
      );
    }
    return pc;
  }
  ws.onmessage = ({ data }) => {
    const { from, to, data: signal } = JSON.parse(String(data)) as {
      from: string;
      to: string;
      data: Signal;
    };
    if (!signal.description && !("candidate" in signal)) {
      send(to, from, signal); // hello, muted: passed on as they are
      return;
    }
    const key = `${from}|${to}`;
    const step = async () => {
      let pc = pcs.get(key);
      if (!pc) {
        if (signal.description?.type !== "offer") return;
        pc = make(from, to, false);
        if (!pcs.has(`${to}|${from}`)) make(to, from, true);
      }
      if (signal.description) {
        await pc.setRemoteDescription(signal.description);
        if (signal.description.type === "offer") {
          for (const t of pc.getTransceivers()) t.direction = "sendrecv";
          await pc.setLocalDescription();
          send(from, to, { description: pc.localDescription?.toJSON() });
        }
      } else {
        await pc.addIceCandidate(signal.candidate ?? undefined).catch(
          () => {},
        );
      }
    };
    chains.set(
      key,
      (chains.get(key) ?? Promise.resolve()).then(step).catch((error) =>
        console.warn("mallory:", error)
      ),
    );
  };
  return new Promise((resolve) => ws.onopen = () => resolve(true));
}

/** Mallory's connections that are up, and data messages she relayed. */
function malloryState(page: TestPage) {
  return page.evaluate(() => {
    const m = (globalThis as unknown as {
      __mallory: { relayed: number; pcs: Map<string, RTCPeerConnection> };
    }).__mallory;
    return {
      connected: [...m.pcs.values()].filter((pc) =>
        pc.connectionState === "connected"
      ).length,
      relayed: m.relayed,
    };
  });
}

/** A man in the middle: the codes differ, and the warnings show. */
const mitm: Scenario = {
  async run(context) {
    await using stack = new AsyncDisposableStack();
    const proxy = stack.use(startMitmProxy(context.server.origin));
    const ada = await launch(context, stack, "Ada", 440, { axe: true });
    const grace = await launch(context, stack, "Grace", 1000);
    const mallory = await launch(context, stack, "Mallory", 550);
    await mallory.page.goto(`${proxy.origin}/mitm`);
    await mallory.page.evaluate(
      malloryMain,
      `${proxy.origin.replace("http", "ws")}/mitm-ws`,
    );

    // Without a secret in the link: only the people can tell.
    const room = `mitm-${crypto.randomUUID().slice(0, 8)}`;
    await joinCall(ada.page, proxy.origin, { room, name: "Ada" });
    await joinCall(grace.page, proxy.origin, { room, name: "Grace" });
    await waitTile(ada.page, "Grace", "connected");
    await waitTile(grace.page, "Ada", "connected");
    await eventually(
      async () =>
        (await malloryState(mallory.page)).connected >= 2 || undefined,
      "Mallory's two connections to be up",
    );
    context.metrics["signals diverted"] = proxy.diverted();
    for (const p of [ada, grace]) await receivesAudioFromAll(p.page, 1);
    const note = `relayed-${crypto.randomUUID()}`;
    await ada.page.fill("Message", note);
    await ada.page.click("button", "Send");
    await waitChat(grace.page, note);
    context.pass(
      "through the proxy, Ada and Grace connect, each to Mallory's page instead of to each other, and still hear each other and chat (Mallory relays)",
    );

    const adaCode = await readCode(ada.page, "Grace");
    const graceCode = await readCode(grace.page, "Ada");
    await grace.page.click("button", "Close");
    context.metrics["codes"] = `${adaCode} / ${graceCode}`;
    assert(
      /^\d{3} \d{3} \d{3} \d{3}$/.test(adaCode) && adaCode !== graceCode,
      `codes do not differ: ${adaCode} / ${graceCode}`,
    );
    assert(!(await has(ada.page, "alert")), "a warning before any check");
    await ada.page.click("button", "Codes differ");
    await waitAlert(ada.page, "may be intercepted");
    await Deno.mkdir(context.artifacts, { recursive: true });
    await ada.page.screenshot(join(context.artifacts, "mitm-verify-ada.png"), {
      fullPage: false,
    });
    await axeClean(context, ada.page, "Verify dialog after Codes differ");
    await ada.page.click("button", "Close");
    await waitAlert(ada.page, "connection with Grace may be intercepted");
    await waitTile(ada.page, "Grace", "may be intercepted");
    await ada.page.screenshot(join(context.artifacts, "mitm-call-ada.png"));
    await axeClean(context, ada.page, "call page with chat and a warning");
    context.pass(
      "Ada and Grace see different codes; Codes differ shows the warning that the connection may be intercepted; axe-core finds no WCAG 2.1 A/AA violation in the dialog or the page, light or dark",
    );

    // With the secret in the link: flagged at once, without anyone reading.
    for (const p of [grace, ada]) {
      await p.page.click("button", "Leave");
      await waitPhase(p.page, "start");
    }
    const secret = "mitm-test-secret-0123456789";
    const room2 = `${room}-k`;
    const link = `${proxy.origin}/r/${room2}#k=${secret}`;
    await joinByLink(ada.page, link, "Ada");
    await joinByLink(grace.page, link, "Grace");
    await waitAlert(ada.page, "connection with Grace may be intercepted");
    await waitAlert(grace.page, "connection with Ada may be intercepted");
    await waitTile(grace.page, "Ada", "may be intercepted");
    const relayed = (await malloryState(mallory.page)).relayed;
    context.metrics["data messages Mallory relayed"] = relayed;
    assert(relayed > 0, "Mallory relayed no data channel message");
    await grace.page.click("button", "Verify Ada");
    assert(
      (await dialogText(grace.page, "Ada")).includes(
        "automatic check failed",
      ),
      "the dialog does not say the automatic check failed",
    );
    context.pass(
      "with the link's secret, both pages warn at once (the relayed proofs fail), before anyone compares codes",
    );
  },
};

/** The scenarios of this file, by name. */
export const PEER_SCENARIOS: Record<string, Scenario> = {
  chat: chatScenario(),
  "chat-redis": chatScenario({ redis: true }),
  "safety-code": safety(),
  "firefox-safety-code": safety({ firefox: true }),
  mitm,
};

/**
 * The end-to-end scenarios, by name. Most are built for a list of engines,
 * so the same checks run Chromium against Chromium and Firefox against
 * Chromium or Firefox: `mesh`, `restart`, `relay` are Chromium only (as
 * they always were); `firefox-*` put stock Firefox ESR in the call.
 *
 * @module
 */
import axe from "axe-core";
import { join } from "node:path";
import { type SpawnedServer, spawnServer } from "../support/server.ts";
import { deadline, delay, eventually } from "../support/wait.ts";
import { launchBrowser, makeTone, type TestBrowser } from "./browser.ts";
import { launchFirefox, type PulseAudio } from "./firefox.ts";
import {
  type ColorScheme,
  type Engine,
  inboundAudio,
  peerConnectionCount,
  type TestPage,
} from "./page.ts";
import {
  assert,
  has,
  hearsTone,
  inSettings,
  joinCall,
  listedPeers,
  loudnessOver,
  muteSilences,
  processingOff,
  receivesAudioFromAll,
  selfId,
  statsLookLive,
  tileState,
  tileText,
  waitAlert,
  waitFor,
  waitListed,
  waitPhase,
  waitTile,
} from "./steps.ts";

/** What a scenario gets to work with. */
export interface ScenarioContext {
  readonly tmp: string;
  readonly artifacts: string;
  /** The server's environment (reuse it to start it again). */
  readonly env: Record<string, string>;
  readonly server: SpawnedServer;
  readonly metrics: Record<string, number | string>;
  /** Records a passed check. */
  pass(check: string): void;
  /** Collects the errors of `pages` into the failure log. */
  watch(...pages: TestPage[]): void;
  /** The scenario's PulseAudio (started on first use, for Firefox). */
  pulse(): Promise<PulseAudio>;
}

/** One scenario: what it needs, and what it does. */
export interface Scenario {
  /** coturn with the server's secret, or with a secret it does not know. */
  turn?: "matching" | "refused";
  /** More server configuration. */
  env?: Record<string, string>;
  /**
   * Runs the checks; may return a server that replaced `context.server`
   * (after a restart) so the runner stops that one.
   */
  run(context: ScenarioContext): Promise<SpawnedServer | void>;
}

/** A person in a scenario: a name, an engine and a microphone tone. */
interface Person {
  name: string;
  engine: Engine;
  hz: number;
}

/** A launched person. */
interface Joined extends Person {
  browser: TestBrowser;
  page: TestPage;
}

const ADA: Person = { name: "Ada", engine: "chromium", hz: 440 };
const GRACE: Person = { name: "Grace", engine: "chromium", hz: 1000 };
const LIN: Person = { name: "Lin", engine: "chromium", hz: 660 };
const FOX: Person = { name: "Fox", engine: "firefox", hz: 550 };
const WREN: Person = { name: "Wren", engine: "firefox", hz: 880 };

/** Launches `person`'s browser with a fake microphone playing its tone. */
async function launch(
  context: ScenarioContext,
  person: Person,
  initScript?: string,
): Promise<Joined> {
  const label = person.name.toLowerCase();
  const started = performance.now();
  const browser = person.engine === "firefox"
    ? await launchFirefox(
      label,
      person.hz,
      context.tmp,
      await context.pulse(),
      {
        initScript,
      },
    )
    : await launchBrowser(
      label,
      await makeTone(context.tmp, person.hz),
      context.tmp,
      { initScript },
    );
  context.watch(browser.page);
  context.metrics[`${person.name} (${person.engine}) launch ms`] = Math.round(
    performance.now() - started,
  );
  return { ...person, browser, page: browser.page };
}

/** Launches everyone (one after another: a 2-core machine). */
async function launchAll(
  context: ScenarioContext,
  stack: AsyncDisposableStack,
  people: Person[],
  initScript?: string,
): Promise<Joined[]> {
  const launched: Joined[] = [];
  for (const person of people) {
    const joined = await launch(context, person, initScript);
    stack.use(joined.browser);
    launched.push(joined);
  }
  return launched;
}

/** Everyone joins one room, the first creating it; returns the room. */
async function joinAll(
  context: ScenarioContext,
  people: Joined[],
): Promise<string> {
  const origin = context.server.origin;
  const { room } = await joinCall(people[0].page, origin, {
    name: people[0].name,
  });
  for (const p of people.slice(1)) {
    await joinCall(p.page, origin, { room, name: p.name });
  }
  return room;
}

/** Checks every person hears every other, with the right tone. */
async function everyoneHearsEveryone(
  context: ScenarioContext,
  people: Joined[],
): Promise<void> {
  for (const p of people) await receivesAudioFromAll(p.page, people.length - 1);
  const ids = await Promise.all(people.map((p) => selfId(p.page)));
  for (const [i, listener] of people.entries()) {
    for (const [j, speaker] of people.entries()) {
      if (i !== j) await hearsTone(listener.page, ids[j], speaker.hz);
    }
  }
  context.pass(
    `${
      describe(people)
    }: each receives audio from every other (packets and energy) with the sender's tone`,
  );
}

function describe(people: Person[]): string {
  return people.map((p) => `${p.name} (${p.engine})`).join(", ");
}

/** Everyone but the `i`th, as the `i`th's list should show them. */
function othersOf(people: Person[], ids: string[], i: number) {
  return people.flatMap((p, j) =>
    j === i ? [] : [{ name: p.name, peerId: ids[j] }]
  );
}

/** Two people of the given engines: the first creates and joins first. */
function pair(first: Person, second: Person): Scenario {
  return {
    async run(context) {
      await using stack = new AsyncDisposableStack();
      const people = await launchAll(context, stack, [first, second]);
      const [a, b] = people;
      await joinAll(context, people);
      await everyoneHearsEveryone(context, people);

      const aStats = await statsLookLive(a.page, b.name);
      const bStats = await statsLookLive(b.page, a.name);
      context.metrics[`${a.name} sees`] = JSON.stringify(aStats);
      context.metrics[`${b.name} sees`] = JSON.stringify(bStats);
      context.pass(
        "both statistics panels show round trip, jitter, loss, bitrate, Opus, the candidate types and a quality summary",
      );

      // Steady tones are flattened by Chromium's noise suppression and AGC.
      for (const p of people) {
        if (p.engine === "chromium") await processingOff(p.page);
      }
      await delay(1_500);
      await everyoneHearsEveryone(context, people);
      const ab = await muteSilences(a.page, b.page, a.name);
      const ba = await muteSilences(b.page, a.page, b.name);
      context.metrics.muteReadings = JSON.stringify({ ab, ba });
      context.pass(
        `Mute silences ${a.name} for ${b.name} and ${b.name} for ${a.name}, and their tiles say muted; unmute brings each back`,
      );

      await b.page.click("button", "Leave");
      await waitPhase(b.page, "start");
      await waitListed(a.page, []);
      context.pass(`${b.name} leaves; ${a.name}'s list drops them`);
    },
  };
}

/** Three people, every one hearing the other two. */
function meshOf(people: Person[]): Scenario {
  return {
    async run(context) {
      await using stack = new AsyncDisposableStack();
      const joined = await launchAll(context, stack, people);
      await joinAll(context, joined);
      await everyoneHearsEveryone(context, joined);
      const ids = await Promise.all(joined.map((p) => selfId(p.page)));
      for (const [i, p] of joined.entries()) {
        await waitListed(p.page, othersOf(joined, ids, i));
      }
      context.pass(
        "each participant list shows the two others, named, by peer ID",
      );
      const last = joined[joined.length - 1];
      await last.page.click("button", "Leave");
      await waitPhase(last.page, "start");
      for (const p of joined.slice(0, -1)) {
        await eventually(
          async () => !(await listedPeers(p.page)).includes(ids.at(-1) ?? ""),
          `${p.name} to drop ${last.name} from the list`,
        );
      }
      context.pass(`${last.name} leaves; the others' lists drop them`);
    },
  };
}

/** The server SIGKILLed mid-call: audio flows on, both sessions resume. */
function restart(first: Person, second: Person): Scenario {
  return {
    async run(context): Promise<SpawnedServer> {
      const old = context.server;
      await using stack = new AsyncDisposableStack();
      const people = await launchAll(context, stack, [first, second]);
      await joinAll(context, people);
      for (const p of people) await receivesAudioFromAll(p.page, 1);
      const before = await Promise.all(people.map((p) => selfId(p.page)));
      const pcsBefore = await Promise.all(
        people.map((p) => peerConnectionCount(p.page)),
      );
      for (const p of people) {
        await p.page.evaluate(() =>
          (globalThis as unknown as { __same: boolean }).__same = true
        );
      }
      context.pass(`${describe(people)} in a call`);

      old.kill("SIGKILL");
      await deadline(old.status, "the first server to die");
      for (const p of people) {
        await waitPhase(p.page, "call", { signaling: "reconnecting" });
      }
      // Audio keeps flowing while there is no server at all.
      const samples: number[][] = [];
      for (let i = 0; i < 4; i++) {
        samples.push(
          (await Promise.all(people.map((p) => inboundAudio(p.page))))
            .map((s) => s[0]?.packetsReceived ?? 0),
        );
        await delay(500);
      }
      for (let i = 1; i < samples.length; i++) {
        assert(
          samples[i].every((n, k) => n > samples[i - 1][k]),
          `packets stopped while the server was down: ${
            JSON.stringify(samples)
          }`,
        );
      }
      context.pass(
        "packets keep rising on both sides while the server is down",
      );

      const next = await eventually(
        () =>
          spawnServer({ env: { ...context.env, PORT: String(old.port) } })
            .catch(() => false as const),
        "the server to start again on the same port",
        { timeoutMs: 30_000, intervalMs: 300 },
      );
      try {
        for (const p of people) {
          await waitPhase(p.page, "call", {
            signaling: "open",
            timeoutMs: 20_000,
          });
        }
        const after = await Promise.all(people.map((p) => selfId(p.page)));
        assert(
          JSON.stringify(after) === JSON.stringify(before),
          `peer IDs changed: ${before} -> ${after}`,
        );
        await waitListed(people[0].page, othersOf(people, before, 0));
        await waitListed(people[1].page, othersOf(people, before, 1));
        for (const p of people) {
          assert(
            await p.page.evaluate(() =>
              (globalThis as unknown as { __same?: boolean }).__same === true
            ),
            `${p.name} reloaded the page`,
          );
        }
        context.pass(
          "both clients resumed with the same peer IDs, without a reload",
        );
        const pcsAfter = await Promise.all(
          people.map((p) => peerConnectionCount(p.page)),
        );
        assert(
          JSON.stringify(pcsAfter) === JSON.stringify(pcsBefore),
          `new RTCPeerConnections after the restart: ${pcsBefore} -> ${pcsAfter}`,
        );
        for (const p of people) await receivesAudioFromAll(p.page, 1);
        context.pass(
          "the same connections still carry audio both ways after the restart",
        );
        return next;
      } catch (error) {
        await next.close();
        throw error;
      }
    },
  };
}

/** Both in Private mode (relay only) through coturn: relay/relay. */
function relay(first: Person, second: Person): Scenario {
  return {
    turn: "matching",
    async run(context) {
      await using stack = new AsyncDisposableStack();
      const people = await launchAll(context, stack, [first, second]);
      await privateJoin(context, people);
      for (const p of people) await receivesAudioFromAll(p.page, 1);
      const pairs = await Promise.all(
        people.map(async (p) => (await inboundAudio(p.page))[0]),
      );
      for (const pair of pairs) {
        assert(
          pair.localCandidateType === "relay" &&
            pair.remoteCandidateType === "relay",
          `not relayed on both sides: ${JSON.stringify(pairs)}`,
        );
      }
      context.pass(
        `${
          describe(people)
        } in Private mode talk through TURN: relay/relay both ways`,
      );
      for (const [i, p] of people.entries()) {
        await waitTile(p.page, people[1 - i].name, "relayed (TURN)");
      }
      context.pass("both participant lists show the path as relayed (TURN)");
    },
  };
}

async function privateJoin(
  context: ScenarioContext,
  people: Joined[],
): Promise<void> {
  for (const p of people) {
    await p.page.goto(`${context.server.origin}/`);
    await inSettings(
      p.page,
      () => p.page.setChecked("Private mode (relay only)", true),
    );
  }
  await joinAll(context, people);
}

/**
 * The server mints credentials with a secret coturn does not share: in
 * Private mode no connection can be made, and the page must say why.
 */
const relayRefused: Scenario = {
  turn: "refused",
  async run(context) {
    await using stack = new AsyncDisposableStack();
    const people = await launchAll(context, stack, [ADA, GRACE]);
    await privateJoin(context, people);
    for (const [i, p] of people.entries()) {
      await waitTile(
        p.page,
        people[1 - i].name,
        "refused this server's credentials",
        60_000,
      );
    }
    context.pass(
      "with a wrong TURN secret the call fails and both pages say why",
    );
    for (const p of people) {
      const packets = (await inboundAudio(p.page)).reduce(
        (sum, s) => sum + s.packetsReceived,
        0,
      );
      assert(packets === 0, `${p.name} received audio through a refused relay`);
    }
    context.pass("no audio flowed");
  },
};

/**
 * Two then three Chromium browsers: Create room, audio every way,
 * processing toggles mid-call, Mute, screenshots at two widths, Leave.
 */
const mesh: Scenario = {
  async run(context) {
    const { artifacts } = context;
    await using stack = new AsyncDisposableStack();
    const [ada, grace] = await launchAll(context, stack, [ADA, GRACE]);
    const origin = context.server.origin;
    const { room } = await joinCall(ada.page, origin, { name: "Ada" });
    assert(/^[A-Za-z0-9_-]{22}$/.test(room), `bad created room ID ${room}`);
    assert(
      new URL(ada.page.url()).pathname === `/r/${room}`,
      "Create room did not navigate to /r/<id>",
    );
    context.pass("Create room made a 22-character ID and navigated to /r/<id>");

    const { clickedAt } = await joinCall(grace.page, origin, {
      room,
      name: "Grace",
    });
    await eventually(
      async () =>
        (await inboundAudio(grace.page)).some((s) => s.packetsReceived > 0),
      "grace's first inbound audio packet",
      { timeoutMs: 20_000, intervalMs: 20 },
    );
    context.metrics.joinToFirstAudioMs = Math.round(
      performance.now() - clickedAt,
    );
    await receivesAudioFromAll(ada.page, 1);
    await receivesAudioFromAll(grace.page, 1);
    context.pass("two browsers: each receives audio from the other");

    // Turning the processing off also reopens the microphone and replaces
    // the sent track mid-call.
    await processingOff(ada.page);
    await delay(1_500);
    await receivesAudioFromAll(grace.page, 1);
    context.pass("turning processing off keeps the call (replaceTrack)");
    const readings = await muteSilences(ada.page, grace.page);
    context.metrics.energyUnmuted = readings.loud;
    context.metrics.energyMuted = readings.silent;
    context.metrics.energyUnmutedAgain = readings.back;
    context.pass(
      "Mute stops the energy the other receives; unmute restores it",
    );

    const [lin] = await launchAll(context, stack, [LIN]);
    await Deno.mkdir(artifacts, { recursive: true });
    await joinCall(lin.page, origin, {
      room,
      name: "Lin",
      screenshot: join(artifacts, "start.png"),
    });
    const people = [ada, grace, lin];
    for (const p of people) await receivesAudioFromAll(p.page, 2);
    context.pass("three browsers: every peer receives audio from every other");

    const ids = await Promise.all(people.map((p) => selfId(p.page)));
    for (const [i, p] of people.entries()) {
      await waitListed(p.page, othersOf(people, ids, i));
    }
    context.pass(
      "each participant list shows the two others, named, by peer ID",
    );

    await delay(1_200); // one stats refresh with all three connected
    await ada.page.screenshot(join(artifacts, "in-call.png"));
    await ada.page.setViewport(360, 800);
    await ada.page.screenshot(join(artifacts, "in-call-360.png"));
    const overflow = await ada.page.evaluate(() =>
      document.documentElement.scrollWidth -
      document.documentElement.clientWidth
    );
    assert(overflow <= 0, `the page scrolls sideways at 360 px (${overflow})`);
    await ada.page.setViewport(1100, 900);
    context.pass("in-call screenshots written; no sideways scroll at 360 px");

    await lin.page.click("button", "Leave");
    await waitPhase(lin.page, "start");
    for (const p of [ada, grace]) {
      await eventually(
        async () => !(await listedPeers(p.page)).includes(ids[2]),
        `${p.name} to drop Lin from the list`,
      );
    }
    context.pass("Leave removes the peer from the others' participant lists");
  },
};

/** Clicks the app's "play audio" button if the autoplay policy held audio. */
async function allowPlayback(page: TestPage): Promise<boolean> {
  await delay(1_500);
  if (!(await has(page, "button", "Play the others' audio"))) return false;
  await page.click("button", "Play the others' audio");
  return true;
}

/**
 * A room of at most two: a third is told it is full; the session moves to
 * a second tab (4501 to the first); a reload keeps its peer ID.
 */
const session: Scenario = {
  env: { MAX_ROOM_SIZE: "2" },
  async run(context) {
    const origin = context.server.origin;
    await using stack = new AsyncDisposableStack();
    const [ada, grace, lin] = await launchAll(context, stack, [
      ADA,
      GRACE,
      LIN,
    ]);
    const room = await joinAll(context, [ada, grace]);
    await receivesAudioFromAll(ada.page, 1);
    await receivesAudioFromAll(grace.page, 1);
    const adaId = await selfId(ada.page);
    const graceId = await selfId(grace.page);
    context.pass("two browsers in a room of at most two");

    await lin.page.goto(`${origin}/r/${room}`);
    await lin.page.click("button", "Join");
    await waitAlert(lin.page, "room is full");
    assert(
      await has(lin.page, "button", "Join") &&
        !(await has(lin.page, "button", "Leave")),
      "a refused peer left the start page",
    );
    context.pass("a third peer is told the room is full");

    // The same session opened in a second tab: the server hands it over
    // (4501 to the first tab); the new tab has no connections, so it greets
    // Ada with hello and Ada offers afresh.
    const stored = await grace.page.evaluate(() =>
      sessionStorage.getItem("parley.session")
    );
    assert(stored, "no session in sessionStorage");
    const second = await grace.browser.newPage("grace-2");
    context.watch(second);
    await second.goto(`${origin}/`);
    await second.evaluate((value) => {
      sessionStorage.setItem("parley.session", value);
    }, stored);
    await second.goto(`${origin}/r/${room}`);
    await waitPhase(second, "call");
    assert(await selfId(second) === graceId, "the second tab got another ID");
    await waitAlert(grace.page, "another tab");
    context.pass(
      "the session moves to a second tab; the first says so and stops",
    );

    const blocked = await allowPlayback(second);
    context.metrics.autoplayBlockedAfterResume = String(blocked);
    await receivesAudioFromAll(second, 1);
    await receivesAudioFromAll(ada.page, 1);
    await waitListed(ada.page, [{ name: "Grace", peerId: graceId }]);
    context.pass("hello: fresh connections both ways with the resumed tab");

    // A reload: pagehide sends leave on unload, the new page resumes the
    // same session with its token and says hello, and Grace offers afresh.
    // Meanwhile Grace's page shows Ada as reconnecting, never as a new
    // "connecting" peer or a failure.
    await waitTile(second, "Ada", "connected");
    const seen = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        seen.add(await tileState(second, "Ada").catch(() => "unlisted"));
        await delay(100);
      }
    })();
    await ada.page.reload();
    await waitPhase(ada.page, "call");
    await allowPlayback(ada.page);
    await receivesAudioFromAll(ada.page, 1);
    await receivesAudioFromAll(second, 1);
    const adaAfter = await selfId(ada.page);
    await waitListed(second, [{ name: "Ada", peerId: adaAfter }]);
    assert(adaAfter === adaId, `the reload got a new peer ID: ${adaAfter}`);
    await waitTile(second, "Ada", "connected");
    watching = false;
    await watcher;
    context.metrics.statesDuringReload = [...seen].join(",");
    assert(
      // "reconnecting" may come and go between two samples on a fast
      // reload; what must never show is a new peer or a failure.
      [...seen].every((s) => s === "connected" || s === "reconnecting"),
      `Grace's tile of Ada during the reload: ${[...seen]}`,
    );
    context.pass(
      "a reloaded page resumes its peer ID and audio flows again; meanwhile the other shows it as reconnecting",
    );

    // Relay only on a server without TURN cannot work: say so plainly.
    await inSettings(
      ada.page,
      () => ada.page.setChecked("Private mode (relay only)", true),
    );
    await ada.page.reload();
    await waitTile(ada.page, "Grace", "TURN server");
    context.pass(
      "relay only without a TURN server says a TURN server is needed",
    );
  },
};

/**
 * Drops every remote ICE candidate (trickled or in the SDP), as a browser
 * does with candidates it cannot use, such as `.local` names nothing
 * resolves: the connection gathers but never starts checking.
 */
const UNUSABLE_CANDIDATES = `(() => {
  const proto = RTCPeerConnection.prototype;
  proto.addIceCandidate = function () { return Promise.resolve(); };
  const setRemote = proto.setRemoteDescription;
  proto.setRemoteDescription = function (description) {
    if (description && description.sdp) {
      description = {
        type: description.type,
        sdp: description.sdp.split("\\r\\n")
          .filter((line) => !line.startsWith("a=candidate"))
          .join("\\r\\n"),
      };
    }
    return setRemote.call(this, description);
  };
})();`;

/**
 * A connection that never starts checking: both sides show it failed, with
 * a reason, within the connect timeout; one fresh connection is tried; and
 * it ends failed for good rather than "connecting" forever.
 */
const unusableCandidates: Scenario = {
  async run(context) {
    await using stack = new AsyncDisposableStack();
    const people = await launchAll(
      context,
      stack,
      [ADA, GRACE],
      UNUSABLE_CANDIDATES,
    );
    await joinAll(context, people);
    const other = (i: number) => people[1 - i].name;
    const failed = (i: number, text: string) =>
      eventually(
        async () =>
          await tileState(people[i].page, other(i)) === "failed" &&
          (await tileText(people[i].page, other(i))).includes(text) &&
          await has(people[i].page, "button", `Try again to reach ${other(i)}`),
        `${people[i].name} to show ${other(i)} failed, saying "${text}"`,
        { timeoutMs: 40_000, intervalMs: 200 },
      );
    for (const i of [0, 1]) await failed(i, "failed");
    context.pass(
      "a connection that never starts checking shows as failed, with a reason and Try again, on both sides",
    );
    await eventually(
      async () =>
        (await Promise.all(people.map((p) => peerConnectionCount(p.page))))
          .every((n) => n >= 2),
      "a fresh connection on both sides (hello)",
      { timeoutMs: 25_000, intervalMs: 200 },
    );
    context.pass("the recovery path ran: both sides made a fresh connection");
    // The retry fails the same way; then it stays failed, and says why.
    const reason = "No direct connection is possible";
    for (const i of [0, 1]) await failed(i, reason);
    const settled = await Promise.all(
      people.map((p) => peerConnectionCount(p.page)),
    );
    await delay(15_000);
    const later = await Promise.all(
      people.map((p) => peerConnectionCount(p.page)),
    );
    assert(
      JSON.stringify(later) === JSON.stringify(settled),
      `connections kept being replaced: ${settled} -> ${later}`,
    );
    for (const [i, p] of people.entries()) {
      assert(
        await tileState(p.page, other(i)) === "failed" &&
          (await tileText(p.page, other(i))).includes(reason),
        `${p.name} no longer shows the failure`,
      );
    }
    context.pass(
      "it ends failed for good with a plain reason (no TURN server), not connecting forever",
    );
    // Try again: a fresh connection on both sides, which fails the same way.
    await people[0].page.click("button", `Try again to reach ${other(0)}`);
    await eventually(
      async () =>
        (await Promise.all(people.map((p) => peerConnectionCount(p.page))))
          .every((n, i) => n > later[i]),
      "Try again to make a fresh connection on both sides",
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    for (const i of [0, 1]) await failed(i, reason);
    context.pass(
      "Try again makes a fresh connection on both sides; it fails again, and says why",
    );
  },
};

/** The page's first RTCPeerConnection cannot be created (it throws). */
const FIRST_CONNECTION_THROWS = `(() => {
  const Recorded = window.RTCPeerConnection;
  let first = true;
  window.RTCPeerConnection = class extends Recorded {
    constructor(...args) {
      if (first) {
        first = false;
        throw new DOMException("injected failure", "OperationError");
      }
      super(...args);
    }
  };
})();`;

/**
 * One step of a peer's incoming signals fails (the connection for Ada's
 * first offer cannot be created): later signals from Ada are still handled,
 * Grace starts over with a hello, and the two end up talking.
 */
const signalStepFails: Scenario = {
  async run(context) {
    await using stack = new AsyncDisposableStack();
    const [ada] = await launchAll(context, stack, [ADA]);
    const [grace] = await launchAll(
      context,
      stack,
      [GRACE],
      FIRST_CONNECTION_THROWS,
    );
    await joinAll(context, [ada, grace]);
    await receivesAudioFromAll(ada.page, 1);
    await receivesAudioFromAll(grace.page, 1);
    assert(
      grace.page.errors.some((e) => e.includes("injected failure")),
      "the injected failure did not happen",
    );
    context.pass(
      "a failed step in one peer's signal chain is logged, later signals still run, and the call connects",
    );
  },
};

/** A browser without WebRTC (RTCPeerConnection undefined). */
const NO_WEBRTC = `delete window.RTCPeerConnection;`;

/** Without WebRTC the page says so once, before and after Join. */
const noWebRtc: Scenario = {
  async run(context) {
    await using stack = new AsyncDisposableStack();
    const [ada] = await launchAll(context, stack, [ADA], NO_WEBRTC);
    const text = "cannot make voice calls";
    const alerts = async () =>
      (await ada.page.texts("alert")).filter((t) => t.includes(text)).length;
    await ada.page.goto(`${context.server.origin}/r/no-webrtc`);
    await waitAlert(ada.page, text);
    assert(await alerts() === 1, `the alert shows ${await alerts()} times`);
    await ada.page.click("button", "Join");
    await delay(500);
    await waitPhase(ada.page, "start");
    assert(
      await alerts() === 1,
      `after Join the alert shows ${await alerts()} times`,
    );
    context.pass("without WebRTC one alert says so, before and after Join");
  },
};

/**
 * What Safari and iOS lack or refuse, emulated in Chromium: no setSinkId,
 * no codec preferences or capabilities, an AudioContext that starts
 * suspended, and play() refused until the user taps.
 */
const SAFARI_LIMITS = `(() => {
  delete HTMLMediaElement.prototype.setSinkId;
  delete RTCRtpTransceiver.prototype.setCodecPreferences;
  delete RTCRtpSender.getCapabilities;
  delete RTCRtpReceiver.getCapabilities;
  const contexts = [];
  Object.defineProperty(window, "__contexts", { value: contexts });
  const NativeContext = window.AudioContext;
  window.AudioContext = class extends NativeContext {
    constructor(...args) {
      super(...args);
      contexts.push(this);
      this.suspend();
    }
  };
  let blocked = true;
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    if (blocked) {
      return Promise.reject(new DOMException("needs a tap", "NotAllowedError"));
    }
    return play.call(this);
  };
  // Autoplay is refused the same way. A pause() right after srcObject is
  // set clears the element's autoplay flag before it can start (pausing
  // on the "play" event alone lets it play, and pull audio, for a moment).
  const srcObject = Object.getOwnPropertyDescriptor(
    HTMLMediaElement.prototype,
    "srcObject",
  );
  Object.defineProperty(HTMLMediaElement.prototype, "srcObject", {
    ...srcObject,
    set(value) {
      srcObject.set.call(this, value);
      if (blocked) this.pause();
    },
  });
  document.addEventListener("play", (event) => {
    if (blocked) event.target.pause();
  }, true);
  // The tap on the app's own button is the gesture that allows playback.
  addEventListener("pointerdown", (event) => {
    if (event.target?.textContent === "Play the others' audio") blocked = false;
  }, true);
})();`;

const safari: Scenario = {
  async run(context) {
    await using stack = new AsyncDisposableStack();
    const people = await launchAll(context, stack, [ADA, GRACE], SAFARI_LIMITS);
    const [ada] = people;
    await ada.page.goto(`${context.server.origin}/`);
    await inSettings(ada.page, async () => {
      assert(
        await has(ada.page, "combobox", "Microphone") &&
          !(await has(ada.page, "combobox", "Speaker")),
        "the Speaker choice is shown without setSinkId",
      );
    });
    context.pass("without setSinkId the Speaker choice is hidden");
    await joinAll(context, people);
    for (const p of people) {
      await waitFor(p.page, "button", "Play the others' audio");
      const attributes = await p.page.evaluate(() =>
        [...document.querySelectorAll("audio[data-peer-id]")].map((el) =>
          el.hasAttribute("autoplay") && el.hasAttribute("playsinline")
        )
      );
      assert(
        attributes.length === 1 && attributes[0],
        `${p.name}: remote audio lacks autoplay or playsinline`,
      );
      // The button shows once the track arrives, which may be before ICE
      // connects: wait for packets, and for the refused element to pause.
      await eventually(
        async () =>
          (await inboundAudio(p.page))[0]?.packetsReceived > 0 &&
          await p.page.evaluate(() =>
            [...document.querySelectorAll("audio")].every((el) => el.paused)
          ),
        `${p.name}: packets arriving to a paused element`,
      );
      const [before] = await inboundAudio(p.page);
      await delay(1_000);
      const [after] = await inboundAudio(p.page);
      assert(
        after.packetsReceived > before.packetsReceived &&
          after.totalAudioEnergy === before.totalAudioEnergy,
        `${p.name}: audio played although play() was refused: ${
          JSON.stringify([before, after])
        }`,
      );
    }
    context.pass(
      "with play() refused, packets arrive, nothing plays and the page offers a Play button; audio has autoplay and playsinline",
    );
    for (const p of people) {
      await p.page.click("button", "Play the others' audio");
    }
    for (const p of people) await receivesAudioFromAll(p.page, 1);
    for (const p of people) {
      const states = await p.page.evaluate(() =>
        (globalThis as unknown as { __contexts: AudioContext[] }).__contexts
          .map((c) => c.state)
      );
      assert(
        states.length > 0 && states.every((s) => s === "running"),
        `${p.name}: AudioContext not resumed by the tap: ${states}`,
      );
    }
    context.pass(
      "the tap plays the audio and resumes the AudioContext; the call works without setCodecPreferences or getCapabilities",
    );
  },
};

/** One rule axe-core found broken, with where. */
interface Violation {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/**
 * Runs axe-core (injected by the init script) on `page`, or only inside
 * `within` (a selector), for the WCAG 2.0/2.1 A and AA rules; returns the
 * violations.
 */
export function axeViolations(
  page: TestPage,
  within?: string,
): Promise<Violation[]> {
  return page.evaluate(async (within) => {
    type Result = {
      violations: {
        id: string;
        impact: string | null;
        help: string;
        nodes: { target: string[]; failureSummary?: string }[];
      }[];
    };
    const axe = (globalThis as unknown as {
      axe: { run(context: unknown, options: unknown): Promise<Result> };
    }).axe;
    const result = await axe.run(within ?? document, {
      runOnly: {
        type: "tag",
        values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"],
      },
      resultTypes: ["violations"],
    });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? "",
      help: v.help,
      nodes: v.nodes.slice(0, 6).map((n) =>
        `${n.target.join(" ")}: ${n.failureSummary ?? ""}`
      ),
    }));
  }, within);
}

const SCHEMES: ColorScheme[] = ["light", "dark"];

/**
 * The accessibility check: axe-core in real Chromium on the start page,
 * the call page with three participants (statistics open) and the open
 * settings dialog, in light and dark, must find no WCAG 2.1 A or AA
 * violation. Also keyboard use (M, the dialog trapping and returning
 * focus), and screenshots at 1280, 768 and 360 px in both schemes.
 */
const a11y: Scenario = {
  async run(context) {
    const { artifacts } = context;
    await Deno.mkdir(artifacts, { recursive: true });
    await using stack = new AsyncDisposableStack();
    const source = (axe as unknown as { source: string }).source;
    // Only the page under test carries axe-core (1.4 MB of script).
    const people = [
      ...await launchAll(context, stack, [ADA], source),
      ...await launchAll(context, stack, [GRACE, LIN]),
    ];
    const [ada] = people;
    const page = ada.page;
    const found: string[] = [];
    const check = async (what: string, within?: string) => {
      for (const scheme of SCHEMES) {
        await page.setColorScheme(scheme);
        await delay(150);
        const violations = await axeViolations(page, within);
        context.metrics[`axe ${what} (${scheme})`] = violations.length;
        for (const v of violations) {
          found.push(
            `${what} (${scheme}): ${v.id} [${v.impact}] ${v.help}\n    ${
              v.nodes.join("\n    ")
            }`,
          );
        }
      }
      await page.setColorScheme("light");
    };
    // What the window shows, as a user sees it (the controls bar where it
    // sticks, the dialog where it opens).
    const shoot = async (name: string, widths: number[]) => {
      for (const scheme of SCHEMES) {
        await page.setColorScheme(scheme);
        for (const width of widths) {
          await page.setViewport(width, width < 500 ? 800 : 900);
          await delay(150);
          await page.screenshot(
            join(artifacts, `${name}-${scheme}-${width}.png`),
            { fullPage: false },
          );
        }
      }
      await page.setColorScheme("light");
      await page.setViewport(1100, 900);
    };

    await page.goto(`${context.server.origin}/`);
    await page.click("button", "Test microphone");
    await waitFor(page, "button", "Microphone on");
    // The check can fail: a nameless button is caught.
    await page.evaluate(() => {
      const probe = document.createElement("button");
      probe.id = "axe-probe";
      document.body.append(probe);
    });
    const probed = await axeViolations(page);
    await page.evaluate(() => document.getElementById("axe-probe")?.remove());
    assert(
      probed.some((v) => v.id === "button-name"),
      `axe-core missed a nameless button: ${JSON.stringify(probed)}`,
    );
    await check("start page");
    await shoot("start", [1280, 360]);
    context.pass("start page: no WCAG 2.1 A/AA violation in light or dark");

    await joinAll(context, people);
    const ids = await Promise.all(people.map((p) => selfId(p.page)));
    await waitListed(page, othersOf(people, ids, 0));
    await receivesAudioFromAll(page, 2);
    await statsLookLive(page, GRACE.name);
    await statsLookLive(page, LIN.name);
    await delay(12_000); // some sparkline to see in the screenshots
    await check("call page");
    await shoot("in-call", [1280, 768, 360]);
    const overflow = await page.evaluate(() =>
      document.documentElement.scrollWidth -
      document.documentElement.clientWidth
    );
    assert(overflow <= 0, `the call page scrolls sideways (${overflow})`);
    context.pass(
      "call page with three participants (statistics open): no WCAG 2.1 A/AA violation in light or dark; no sideways scroll at 1280, 768 or 360 px",
    );

    // Keyboard: M mutes and unmutes where no text is typed.
    await page.evaluate(() => (document.activeElement as HTMLElement)?.blur());
    const pressed = () =>
      page.evaluateOn("button", "Mute", (b) => b.getAttribute("aria-pressed"));
    await page.press("m");
    assert(await pressed() === "true", "M did not mute");
    await page.press("m");
    assert(await pressed() === "false", "M did not unmute");
    context.pass("M mutes and unmutes");

    await page.click("button", "Settings");
    await waitFor(page, "dialog", "Audio settings");
    const inDialog = () =>
      page.evaluate(() => document.activeElement?.closest("dialog") !== null);
    assert(await inDialog(), "focus did not move into the settings dialog");
    for (let i = 0; i < 14; i++) {
      await page.press("Tab");
      assert(
        await inDialog(),
        `Tab ${i + 1} left the open dialog`,
      );
    }
    await check("settings dialog", "dialog[open]");
    await shoot("settings", [1280, 360]);
    await page.press("Escape");
    await eventually(
      async () => !(await has(page, "dialog", "Audio settings")),
      "Escape to close the settings dialog",
    );
    const focused = await page.evaluate(() =>
      document.activeElement?.textContent?.trim() ?? ""
    );
    assert(focused === "Settings", `focus went to "${focused}", not Settings`);
    context.pass(
      "settings dialog: no violation in light or dark; Tab stays inside; Escape closes it and focus returns to Settings",
    );
    assert(found.length === 0, `axe-core found:\n${found.join("\n")}`);
  },
};

/** Names of the noise filter's files `page` has fetched so far. */
function noiseFilterFetches(page: TestPage): Promise<string[]> {
  return page.evaluate(() =>
    performance.getEntriesByType("resource")
      .map((e) => new URL(e.name).pathname)
      .filter((path) => path.startsWith("/rnnoise"))
  );
}

/** Switches Ada's noise filter on or off and waits until it says so. */
async function setNoiseFilter(page: TestPage, on: boolean): Promise<void> {
  await inSettings(page, async () => {
    await page.setChecked("Noise filter (RNNoise)", on);
    const words = on ? "The noise filter is on" : "removes steady noise";
    await eventually(
      () =>
        page.evaluate(
          (words) => document.body.textContent?.includes(words),
          words,
        ),
      `${page.label}: the noise filter to say "${words}"`,
      { timeoutMs: 15_000 },
    );
  });
}

/**
 * The opt-in RNNoise filter: nothing of it loads until it is switched on;
 * on, it sits between the microphone and the peers (background noise all
 * but vanishes for the listener while packets keep flowing); off again, the
 * noise comes back.
 */
const noiseFilter: Scenario = {
  async run(context) {
    await using stack = new AsyncDisposableStack();
    // Ada's microphone hears only a fan: pink noise, which RNNoise exists
    // to remove (a steady sine passes it, as a voiced sound would).
    const noise = join(context.tmp, "mic-pink-noise.wav");
    const sox = await new Deno.Command("sox", {
      args: ["-n", "-r", "48000", "-c", "1", "-b", "16", noise, "synth", "4"]
        .concat(["pinknoise", "gain", "-12"]),
      stderr: "inherit",
    }).output();
    assert(sox.success, "sox could not write the pink noise");
    const adaBrowser = stack.use(
      await launchBrowser("ada", noise, context.tmp),
    );
    context.watch(adaBrowser.page);
    const ada: Joined = { ...ADA, browser: adaBrowser, page: adaBrowser.page };
    const [grace] = await launchAll(context, stack, [GRACE]);
    const people = [ada, grace];
    await joinAll(context, people);
    for (const p of people) await receivesAudioFromAll(p.page, 1);
    await hearsTone(ada.page, await selfId(grace.page), GRACE.hz);
    for (const p of people) await processingOff(p.page);
    await delay(1_500);

    assert(
      (await noiseFilterFetches(ada.page)).length === 0,
      "the noise filter's files were fetched before it was switched on",
    );
    context.pass("a call without the noise filter fetches none of its files");

    const raw = await loudnessOver(grace.page, 2_000);
    await setNoiseFilter(ada.page, true);
    const fetched = await noiseFilterFetches(ada.page);
    assert(
      // A worklet's module leaves no resource timing entry; the WebAssembly
      // fetch does.
      fetched.some((f) => f.endsWith(".wasm")),
      `switched on, Ada fetched ${fetched}`,
    );
    await delay(1_500);
    const filtered = await loudnessOver(grace.page, 2_000);
    await receivesAudioFromAll(grace.page, 1);
    await setNoiseFilter(ada.page, false);
    await delay(1_500);
    const back = await loudnessOver(grace.page, 2_000);
    context.metrics["Grace hears Ada's noise (energy): raw, filtered, back"] =
      JSON.stringify({ raw, filtered, back });
    assert(raw > 0, "Grace heard nothing from Ada before the filter");
    assert(
      filtered < raw * 0.1,
      `the filter let Ada's noise through: ${filtered} of ${raw}`,
    );
    assert(
      back > raw * 0.3,
      `Ada's noise did not come back with the filter off: ${back} of ${raw}`,
    );
    context.pass(
      `switched on, RNNoise loads (${
        fetched.join(", ")
      }) and takes out Ada's background noise for Grace (energy ${
        (filtered / raw * 100).toFixed(1)
      }% of unfiltered) while packets keep flowing; switched off, the noise comes back`,
    );
  },
};

/**
 * The noise filter in Firefox: it loads (AudioWorklet, WebAssembly under
 * the page's CSP) and the far side keeps receiving audio through it.
 */
const firefoxNoiseFilter: Scenario = {
  async run(context) {
    await using stack = new AsyncDisposableStack();
    const people = await launchAll(context, stack, [FOX, GRACE]);
    const [fox, grace] = people;
    await joinAll(context, people);
    await everyoneHearsEveryone(context, people);
    await setNoiseFilter(fox.page, true);
    const fetched = await noiseFilterFetches(fox.page);
    assert(
      fetched.some((f) => f.endsWith(".wasm")),
      `switched on, Fox fetched ${fetched}`,
    );
    await delay(1_500);
    await receivesAudioFromAll(grace.page, 1);
    context.pass(
      `Firefox runs the noise filter (${
        fetched.join(", ")
      }) and Grace keeps receiving its audio`,
    );
  },
};

/** Every scenario by the name `tests/e2e_test.ts` runs it with. */
export const SCENARIOS: Record<string, Scenario> = {
  "mesh": mesh,
  "session": session,
  "restart": restart(ADA, GRACE),
  "relay": relay(ADA, GRACE),
  "relay-refused": relayRefused,
  "unusable-candidates": unusableCandidates,
  "signal-step-fails": signalStepFails,
  "no-webrtc": noWebRtc,
  "safari": safari,
  "a11y": a11y,
  "firefox-first": pair(FOX, GRACE),
  "firefox-second": pair(ADA, FOX),
  "firefox-firefox": pair(FOX, WREN),
  "firefox-mesh": meshOf([ADA, FOX, LIN]),
  "firefox-restart": restart(FOX, GRACE),
  "firefox-relay": relay(ADA, FOX),
  "noise-filter": noiseFilter,
  "firefox-noise-filter": firefoxNoiseFilter,
};

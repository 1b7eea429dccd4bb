/**
 * One load generator process. It holds pairs of WebSocket clients that speak
 * Parley's protocol (each pair joined to a room of two) and, on command,
 * connects them, joins at a fixed rate, or relays call-setup signals between
 * them at a fixed rate, timing every message from send to receipt and
 * checking that it arrived once, in order, at the right peer, from the right
 * sender.
 *
 * It reads one JSON command per line on stdin and answers each with one JSON
 * line on stdout; `bench/generators.ts` drives it. Both peers of a pair live
 * in this process, so send and receive times come from one clock.
 *
 * @module
 */
import { Histogram, type HistogramJson } from "./histogram.ts";
import { cycleStep, readRelayed, signalFrame } from "../testing/messages.ts";
import { RawWebSocket } from "./ws_client.ts";

/** Commands the orchestrator sends. */
export type WorkerCommand =
  | {
    cmd: "connect";
    url: string;
    /**
     * Where the second peer of each pair connects, when not to `url`: another
     * instance sharing rooms through Redis (the cross-instance scenario).
     */
    peerUrl?: string;
    pairs: number;
    concurrency: number;
    roomPrefix: string;
  }
  | {
    cmd: "join-rate";
    url: string;
    rate: number;
    count: number;
    roomPrefix: string;
  }
  | {
    cmd: "relay";
    rate: number;
    /** Messages to send; `perPair` instead sends that many per pair. */
    count: number;
    perPair?: number;
    pairs: number;
    fullCheck: boolean;
  }
  | {
    /**
     * Every joined client sends Parley's `ping` every `intervalMs`, spread
     * evenly, for `durationMs`: what idle clients cost a server at rest.
     */
    cmd: "ping";
    intervalMs: number;
    durationMs: number;
  }
  | { cmd: "close" }
  | { cmd: "exit" };

/** What went wrong, counted; every field is zero in a clean run. */
export interface Faults {
  /** Connects or joins that failed or timed out. */
  connectFailed: number;
  /** `error` messages from the server. */
  serverErrors: number;
  /** Sockets closed that the generator did not close. */
  unexpectedCloses: number;
  /** Relayed messages sent and never received. */
  lost: number;
  /** Messages received twice, or out of order. */
  duplicates: number;
  reordered: number;
  /** Messages at the wrong socket, from the wrong sender, or mangled. */
  misrouted: number;
}

/** The answer to a command. */
export interface WorkerReply {
  ok: boolean;
  error?: string;
  /** Pairs joined and ready in this process. */
  pairs: number;
  /** Messages sent and received by the last relay, and joins done. */
  sent: number;
  received: number;
  joins: number;
  /** Latencies: connect to `joined`, or send to receipt. */
  latency?: HistogramJson;
  /** Longest the sender fell behind its schedule, in ms. */
  maxLagMs: number;
  elapsedMs: number;
  faults: Faults;
}

interface Client {
  /** Set once the socket is open. */
  ws?: RawWebSocket;
  id: string;
  peer?: Client;
  pair?: Pair;
  /** Sequence number of the next message this client sends. */
  sendSeq: number;
  /** Sequence number expected next from the peer. */
  recvSeq: number;
  closing: boolean;
}

interface Pair {
  first: Client;
  second: Client;
  step: number;
}

const JOIN_TIMEOUT_MS = 30_000;
/** Descriptors opened at start, past any count a worker holds. */
const FD_TABLE_SIZE = 8200;
const DRAIN_TIMEOUT_MS = 10_000;

let pairs: Pair[] = [];
let faults = newFaults();
let latency = new Histogram();
let received = 0;
let fullCheck = false;
const clients = new Set<Client>();

/** Faults of a clean run: every count zero. */
export function newFaults(): Faults {
  return {
    connectFailed: 0,
    serverErrors: 0,
    unexpectedCloses: 0,
    lost: 0,
    duplicates: 0,
    reordered: 0,
    misrouted: 0,
  };
}

/** Handles a frame for `client`; the hot path of every relay scenario. */
function onFrame(client: Client, text: string): void {
  const frame = readRelayed(text);
  if (frame === undefined) {
    onControl(client, text);
    return;
  }
  const now = performance.now();
  received++;
  const peer = client.peer;
  if (frame.to !== client.id || peer === undefined || frame.from !== peer.id) {
    faults.misrouted++;
    return;
  }
  if (fullCheck) {
    // Every relayed frame must still be one valid JSON object.
    try {
      const parsed = JSON.parse(text);
      if (parsed.from !== peer.id || parsed.data.s !== frame.s) {
        faults.misrouted++;
      }
    } catch {
      faults.misrouted++;
    }
  }
  if (frame.s === client.recvSeq) {
    client.recvSeq++;
  } else if (frame.s < client.recvSeq) {
    faults.duplicates++;
  } else {
    faults.reordered++;
    client.recvSeq = frame.s + 1;
  }
  latency.record(now - frame.t);
}

/** Waiters for control messages, by client. */
const waiters = new Map<Client, (msg: Record<string, unknown>) => void>();

function onControl(client: Client, text: string): void {
  let msg: Record<string, unknown>;
  try {
    msg = JSON.parse(text);
  } catch {
    faults.misrouted++;
    return;
  }
  if (msg.type === "error") {
    faults.serverErrors++;
    console.error(`server error: ${text.slice(0, 200)}`);
  }
  waiters.get(client)?.(msg);
}

/** Opens a socket and joins `room`; resolves with the client once joined. */
function joinRoom(url: string, room: string): Promise<Client> {
  const client: Client = {
    ws: undefined,
    id: "",
    sendSeq: 0,
    recvSeq: 0,
    closing: false,
  };
  clients.add(client);
  const { promise, resolve, reject } = Promise.withResolvers<Client>();
  const timer = setTimeout(
    () => reject(new Error("join timed out")),
    JOIN_TIMEOUT_MS,
  );
  waiters.set(client, (msg) => {
    if (msg.type === "joined") {
      client.id = String(msg.peerId);
      resolve(client);
    } else if (msg.type === "error") {
      reject(new Error(`join refused: ${msg.code}`));
    }
  });
  RawWebSocket.connect(url).then((ws) => {
    client.ws = ws;
    ws.onmessage = (text) => onFrame(client, text);
    ws.onclose = () => {
      clients.delete(client);
      waiters.delete(client);
      if (!client.closing) faults.unexpectedCloses++;
      reject(new Error("socket closed before joined"));
    };
    if (client.closing) ws.close();
    else ws.send(JSON.stringify({ type: "join", room }));
  }, (error) => {
    clients.delete(client);
    waiters.delete(client);
    reject(error);
  });
  return promise.finally(() => clearTimeout(timer));
}

/**
 * Resolves when `first` hears that a peer joined its room (from another
 * instance, through Redis, in the cross-instance scenario).
 */
function peerJoined(first: Client): Promise<string> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  const previous = waiters.get(first);
  const timer = setTimeout(
    () => reject(new Error("no peer-joined")),
    JOIN_TIMEOUT_MS,
  );
  waiters.set(first, (msg) => {
    if (msg.type === "peer-joined") resolve(String(msg.peerId));
    else previous?.(msg);
  });
  return promise.finally(() => clearTimeout(timer));
}

function pairUp(first: Client, second: Client): Pair {
  first.peer = second;
  second.peer = first;
  const pair = { first, second, step: 0 };
  first.pair = pair;
  second.pair = pair;
  return pair;
}

/** Joins one room of two: the first client, then the second. */
async function connectPair(
  url: string,
  room: string,
  peerUrl = url,
): Promise<void> {
  const t0 = performance.now();
  const first = await joinRoom(url, room);
  latency.record(performance.now() - t0);
  const heard = peerJoined(first);
  heard.catch(() => {}); // Awaited below; a failed join must not leave it unhandled.
  const t1 = performance.now();
  const second = await joinRoom(peerUrl, room);
  latency.record(performance.now() - t1);
  if (await heard !== second.id) faults.misrouted++;
  pairs.push(pairUp(first, second));
}

async function connect(
  cmd: Extract<WorkerCommand, { cmd: "connect" }>,
): Promise<Partial<WorkerReply>> {
  latency = new Histogram();
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < cmd.pairs) {
      const i = next++;
      try {
        await connectPair(cmd.url, `${cmd.roomPrefix}-${i}`, cmd.peerUrl);
      } catch (error) {
        faults.connectFailed++;
        console.error(`connect: ${(error as Error).message}`);
      }
    }
  };
  const lanes = Math.max(1, Math.floor(cmd.concurrency / 2));
  await Promise.all(Array.from({ length: lanes }, lane));
  return {
    joins: latency.count,
    latency: latency.toJSON(),
    elapsedMs: performance.now() - t0,
  };
}

/**
 * Starts joins at `rate` per second, open loop: a join starts when its time
 * comes whether or not earlier ones have finished. Joins 2k and 2k+1 share
 * a room and become a pair.
 */
async function joinRate(
  cmd: Extract<WorkerCommand, { cmd: "join-rate" }>,
): Promise<Partial<WorkerReply>> {
  latency = new Histogram();
  const done: Promise<void>[] = [];
  const firsts: Promise<Client>[] = [];
  let maxLagMs = 0;
  const t0 = performance.now();
  const start = (i: number) => {
    const room = `${cmd.roomPrefix}-${i >> 1}`;
    const began = performance.now();
    const joined = joinRoom(cmd.url, room).then((client) => {
      latency.record(performance.now() - began);
      return client;
    });
    if (i % 2 === 0) {
      firsts[i >> 1] = joined;
      done.push(joined.then(() => {}));
    } else {
      done.push(
        Promise.all([firsts[i >> 1], joined]).then(([a, b]) => {
          pairs.push(pairUp(a, b));
        }),
      );
    }
  };
  let started = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(
        cmd.count,
        Math.floor((now - t0) * cmd.rate / 1000) + 1,
      );
      if (due - started > 1) {
        maxLagMs = Math.max(maxLagMs, (due - started - 1) * 1000 / cmd.rate);
      }
      while (started < due) start(started++);
      if (started < cmd.count) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  const results = await Promise.allSettled(done);
  for (const result of results) {
    if (result.status === "rejected") {
      faults.connectFailed++;
      console.error(`join: ${(result.reason as Error).message}`);
    }
  }
  return {
    joins: latency.count,
    latency: latency.toJSON(),
    maxLagMs,
    elapsedMs: performance.now() - t0,
  };
}

/**
 * Sends `count` signals at `rate` per second over the first `pairs` pairs,
 * round robin, each pair walking through a call setup (offer, answer,
 * candidates), then waits until every one has arrived or the drain times
 * out.
 */
async function relay(
  cmd: Extract<WorkerCommand, { cmd: "relay" }>,
): Promise<Partial<WorkerReply>> {
  latency = new Histogram();
  received = 0;
  fullCheck = cmd.fullCheck;
  const active = pairs.slice(0, Math.min(cmd.pairs, pairs.length));
  if (active.length === 0) throw new Error("no pairs joined");
  const count = cmd.perPair ? cmd.perPair * active.length : cmd.count;
  let sent = 0;
  let maxLagMs = 0;
  const send = () => {
    const pair = active[sent % active.length];
    const { fromFirst, tail } = cycleStep(pair.step++);
    const from = fromFirst ? pair.first : pair.second;
    const to = fromFirst ? pair.second : pair.first;
    from.ws?.send(signalFrame(to.id, performance.now(), from.sendSeq++, tail));
    sent++;
  };
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(
        count,
        Math.floor((now - t0) * cmd.rate / 1000) + 1,
      );
      if (due - sent > 1) {
        maxLagMs = Math.max(maxLagMs, (due - sent - 1) * 1000 / cmd.rate);
      }
      while (sent < due) send();
      if (sent < count) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  const sendMs = performance.now() - t0;
  const drainUntil = performance.now() + DRAIN_TIMEOUT_MS;
  while (received < sent && performance.now() < drainUntil) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  faults.lost += Math.max(0, sent - received);
  return {
    sent,
    received,
    latency: latency.toJSON(),
    maxLagMs,
    elapsedMs: sendMs,
  };
}

/** Closes every client and waits (bounded) for the close events. */
async function closeAll(): Promise<Partial<WorkerReply>> {
  for (const client of clients) {
    client.closing = true;
    if (client.ws) client.ws.close();
    // A socket still connecting closes as soon as it opens.
  }
  const until = performance.now() + 10_000;
  while (clients.size > 0 && performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  pairs = [];
  return {};
}

async function pingAll(
  cmd: Extract<WorkerCommand, { cmd: "ping" }>,
): Promise<Partial<WorkerReply>> {
  const all = pairs.flatMap((p) => [p.first, p.second]);
  if (all.length === 0) throw new Error("no pairs joined");
  const frame = JSON.stringify({ type: "ping" });
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - t0;
      const due = Math.floor(
        Math.min(elapsed, cmd.durationMs) * all.length / cmd.intervalMs,
      );
      while (sent < due) all[sent++ % all.length].ws?.send(frame);
      if (elapsed < cmd.durationMs) setTimeout(tick, 20);
      else resolve();
    };
    tick();
  });
  return { sent, elapsedMs: performance.now() - t0 };
}

async function handle(cmd: WorkerCommand): Promise<WorkerReply> {
  let result: Partial<WorkerReply> = {};
  let error: string | undefined;
  try {
    switch (cmd.cmd) {
      case "connect":
        result = await connect(cmd);
        break;
      case "join-rate":
        result = await joinRate(cmd);
        break;
      case "relay":
        result = await relay(cmd);
        break;
      case "ping":
        result = await pingAll(cmd);
        break;
      case "close":
        result = await closeAll();
        break;
      case "exit":
        await closeAll();
        break;
    }
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  // Faults count from the previous answer to this one, so nothing that
  // happens between two commands goes unreported.
  const reply: WorkerReply = {
    ok: error === undefined,
    error,
    pairs: pairs.length,
    sent: 0,
    received: 0,
    joins: 0,
    maxLagMs: 0,
    elapsedMs: 0,
    ...result,
    faults,
  };
  faults = newFaults();
  return reply;
}

/** Splits a byte stream into lines. */
export async function* lines(stream: ReadableStream<Uint8Array<ArrayBuffer>>) {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
    }
  }
}

/**
 * Grows this process's file descriptor table up front. Linux grows it by
 * doubling, and in a multi-threaded process each growth waits for an RCU
 * grace period (`expand_fdtable` → `synchronize_rcu`): 10–40 ms during
 * which no socket of this process connects, at 256, 512, 1024, 2048…
 * open descriptors. A long-running process pays that once; a benchmark
 * would see it in its latencies.
 */
function growFdTable(count: number): void {
  const files: Deno.FsFile[] = [];
  try {
    for (let i = 0; i < count; i++) files.push(Deno.openSync("/dev/null"));
  } catch {
    // The open-file limit: the table is as large as it may get.
  } finally {
    for (const file of files) file.close();
  }
}

if (import.meta.main) {
  growFdTable(FD_TABLE_SIZE);
  for await (const line of lines(Deno.stdin.readable)) {
    if (line.trim() === "") continue;
    const cmd = JSON.parse(line) as WorkerCommand;
    const reply = await handle(cmd);
    console.log(JSON.stringify(reply));
    if (cmd.cmd === "exit") break;
  }
  Deno.exit(0);
}

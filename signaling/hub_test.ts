import assert from "node:assert/strict";
import { Hub, type HubOptions, type PeerSocket } from "./hub.ts";
import type { Connection } from "./connection.ts";
import { DEFAULTS } from "./config.ts";
import { SqliteStore } from "../storage/sqlite_store.ts";
import { StoreUnavailableError } from "../storage/mod.ts";
import { DatabaseSync } from "node:sqlite";

/** A PeerSocket that records what the hub sends and how it closes. */
class FakeSocket implements PeerSocket {
  readonly sent: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  closedWith?: { code: number; reason: string };
  bufferedAmount = 0;
  conn?: Connection;

  send(text: string): void {
    if (this.closedWith) throw new Error("send on a closed socket");
    this.raw.push(text);
    this.sent.push(JSON.parse(text));
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }

  /** Removes and returns everything sent so far. */
  take(): Record<string, unknown>[] {
    this.raw.length = 0;
    return this.sent.splice(0);
  }
}

/** Lets pending promise callbacks (store calls, backlog) run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

class Fixture implements Disposable {
  readonly store: SqliteStore;
  readonly hub: Hub;
  readonly sockets: FakeSocket[] = [];
  time = 1_700_000_000_000;

  constructor(
    options: HubOptions = {},
    store: SqliteStore = new SqliteStore(":memory:"),
  ) {
    this.store = store;
    this.hub = new Hub(this.store, { now: () => this.time, ...options });
  }

  socket(): FakeSocket {
    const socket = new FakeSocket();
    socket.conn = this.hub.connect(socket);
    this.sockets.push(socket);
    return socket;
  }

  async send(socket: FakeSocket, msg: unknown): Promise<void> {
    socket.conn?.receive(typeof msg === "string" ? msg : JSON.stringify(msg));
    await settle();
  }

  /** A socket that joined `room`; returns it with its joined message. */
  async joined(room: string, name?: string) {
    const socket = this.socket();
    await this.send(socket, { type: "join", room, name });
    const [joined] = socket.take();
    assert.equal(joined?.type, "joined", JSON.stringify(joined));
    return {
      socket,
      peerId: joined.peerId as string,
      token: joined.token as string,
    };
  }

  /** The socket drops (closes without leave). */
  drop(socket: FakeSocket): void {
    socket.conn?.handleClose();
  }

  [Symbol.dispose](): void {
    for (const socket of this.sockets) socket.conn?.handleClose();
    this.store.close();
  }
}

Deno.test("Hub relays a signal to its target only, stamped with the sender", async () => {
  using f = new Fixture();
  const a = await f.joined("r", "a");
  const b = await f.joined("r", "b");
  const c = await f.joined("r", "c");
  a.socket.take();
  b.socket.take();
  await f.send(a.socket, {
    type: "signal",
    to: b.peerId,
    data: { n: 1 },
    from: c.peerId,
  });
  assert.deepEqual(b.socket.take(), [{
    type: "signal",
    data: { n: 1 },
    from: a.peerId,
  }]);
  assert.deepEqual(c.socket.take(), []);
  assert.deepEqual(a.socket.take(), []);
});

Deno.test("Hub answers room-full when the room has maxRoomSize peers", async () => {
  using f = new Fixture({ maxRoomSize: 2 });
  await f.joined("r");
  await f.joined("r");
  const third = f.socket();
  await f.send(third, { type: "join", room: "r", ref: 1 });
  assert.deepEqual(third.take().map((m) => [m.code, m.ref]), [[
    "room-full",
    1,
  ]]);
});

Deno.test("Hub keeps a dropped peer a member until the sweep after its grace", async () => {
  using f = new Fixture({ resumeGraceMs: 1000 });
  const a = await f.joined("r");
  const b = await f.joined("r");
  a.socket.take();
  f.drop(a.socket);
  await settle();
  await f.send(b.socket, { type: "signal", to: a.peerId, data: 1 });
  f.time += 999;
  await f.hub.sweep();
  assert.deepEqual(b.socket.take(), []);
  f.time += 2;
  await f.hub.sweep();
  // a created the room: b is its host now.
  assert.deepEqual(b.socket.take(), [
    { type: "peer-left", peerId: a.peerId },
    { type: "room", host: b.peerId, locked: false },
  ]);
});

Deno.test("Hub resumes a session with its queue in order and tells nobody", async () => {
  using f = new Fixture();
  const a = await f.joined("r");
  const b = await f.joined("r");
  a.socket.take();
  f.drop(a.socket);
  await settle();
  for (let i = 0; i < 3; i++) {
    await f.send(b.socket, { type: "signal", to: a.peerId, data: i });
  }
  assert.deepEqual(b.socket.take(), []);
  const again = f.socket();
  await f.send(again, { type: "join", room: "r", token: a.token });
  const [joined, ...queued] = again.take();
  assert.equal(joined.type, "joined");
  assert.equal(joined.resumed, true);
  assert.equal(joined.peerId, a.peerId);
  assert.deepEqual(queued.map((m) => m.data), [0, 1, 2]);
  assert.deepEqual(b.socket.take(), []);
});

Deno.test("Hub answers queue-full when an away peer's queue is full", async () => {
  using f = new Fixture({ queueLimit: 2 });
  const a = await f.joined("r");
  const b = await f.joined("r");
  f.drop(a.socket);
  await settle();
  b.socket.take();
  for (let i = 0; i < 3; i++) {
    await f.send(b.socket, { type: "signal", to: a.peerId, data: i, ref: i });
  }
  assert.deepEqual(b.socket.take().map((m) => [m.code, m.ref]), [[
    "queue-full",
    2,
  ]]);
});

Deno.test("Hub closes the older socket with 4501 when a session is resumed twice", async () => {
  using f = new Fixture();
  const a = await f.joined("r");
  const tab = f.socket();
  await f.send(tab, { type: "join", room: "r", token: a.token });
  await settle(); // the close frame goes out on the next macrotask
  assert.deepEqual(a.socket.closedWith, { code: 4501, reason: "replaced" });
  assert.equal(tab.take()[0].resumed, true);
});

Deno.test("Hub refuses a token for another room or with a wrong secret", async () => {
  using f = new Fixture();
  const a = await f.joined("r");
  const probe = f.socket();
  await f.send(probe, { type: "join", room: "other", token: a.token });
  await f.send(probe, { type: "join", room: "r", token: `${a.peerId}.wrong` });
  await f.send(probe, { type: "join", room: "r", token: "nodot" });
  assert.deepEqual(probe.take().map((m) => m.code), [
    "invalid-token",
    "invalid-token",
    "invalid-token",
  ]);
  assert.equal(probe.closedWith, undefined);
});

Deno.test("Hub handles a signal sent right after join, in order", async () => {
  using f = new Fixture();
  const a = await f.joined("r");
  const b = f.socket();
  b.conn?.receive(JSON.stringify({ type: "join", room: "r" }));
  b.conn?.receive(
    JSON.stringify({ type: "signal", to: a.peerId, data: "early" }),
  );
  await settle();
  await settle();
  assert.deepEqual(b.take().map((m) => m.type), ["joined"]);
  assert.deepEqual(a.socket.take().map((m) => m.type), [
    "peer-joined",
    "signal",
  ]);
});

Deno.test("Hub closes a socket after errorBudget bad-input errors but not for refusals", async () => {
  using f = new Fixture({ errorBudget: 3 });
  const a = await f.joined("r");
  for (let i = 0; i < 5; i++) {
    await f.send(a.socket, { type: "signal", to: "nobody", data: 1 });
  }
  assert.equal(a.socket.closedWith, undefined);
  const bad = f.socket();
  await f.send(bad, "x");
  await f.send(bad, "x");
  assert.equal(bad.closedWith, undefined);
  await f.send(bad, "x");
  assert.deepEqual(bad.closedWith, { code: 4500, reason: "protocol-error" });
  assert.equal(bad.take().length, 3);
});

Deno.test("Hub closes a socket with 4502 for a frame over maxMessageBytes", async () => {
  using f = new Fixture({ maxMessageBytes: 1024 });
  const s = f.socket();
  await f.send(
    s,
    `{"type":"ping","ref":"${"x".repeat(1024 - 24)}"}`.slice(0, 1024),
  );
  assert.equal(s.closedWith, undefined);
  await f.send(s, " ".repeat(1025));
  assert.deepEqual(s.closedWith, { code: 4502, reason: "too-large" });
});

Deno.test("Hub answers binary-frame for a binary frame", async () => {
  using f = new Fixture();
  const s = f.socket();
  s.conn?.receive(null);
  await settle();
  assert.deepEqual(s.take().map((m) => m.code), ["binary-frame"]);
});

Deno.test("Hub closes a socket that sends no join within joinTimeoutMs", async () => {
  using f = new Fixture({ joinTimeoutMs: 20 });
  const s = f.socket();
  const deadline = Date.now() + 5000;
  while (!s.closedWith && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepEqual(s.closedWith, { code: 4001, reason: "join-timeout" });
});

Deno.test("Hub.shutdown() closes every socket with 4000 and refuses new ones", async () => {
  using f = new Fixture();
  const a = await f.joined("r");
  const idle = f.socket();
  f.hub.shutdown();
  const late = f.socket();
  await settle(); // close frames go out on the next macrotask
  assert.deepEqual(a.socket.closedWith, { code: 4000, reason: "restart" });
  assert.deepEqual(idle.closedWith, { code: 4000, reason: "restart" });
  assert.equal(f.hub.draining, true);
  assert.deepEqual(late.closedWith, { code: 4000, reason: "restart" });
});

Deno.test("Hub.recover() makes stored peers resumable after a restart", async () => {
  const store = new SqliteStore(":memory:");
  let time = 1_700_000_000_000;
  const first = new Hub(store, { now: () => time });
  const socket = new FakeSocket();
  socket.conn = first.connect(socket);
  socket.conn.receive(JSON.stringify({ type: "join", room: "r" }));
  await settle();
  const [joined] = socket.take();
  // The process dies: no close event ever reaches the first hub.
  time += 5000;
  const second = new Hub(store, { now: () => time, resumeGraceMs: 1000 });
  assert.equal(await second.recover(), 1);
  const again = new FakeSocket();
  again.conn = second.connect(again);
  try {
    again.conn.receive(
      JSON.stringify({ type: "join", room: "r", token: joined.token }),
    );
    await settle();
    const [resumed] = again.take();
    assert.equal(resumed.resumed, true);
    assert.equal(resumed.peerId, joined.peerId);
  } finally {
    socket.conn.handleClose();
    again.conn.handleClose();
    store.close();
  }
});

Deno.test("Hub keeps a peer that left on unload resumable for the unload grace only", async () => {
  let time = 1_700_000_000_000;
  const store = new SqliteStore(":memory:");
  const hub = new Hub(store, {
    now: () => time,
    resumeGraceMs: 30_000,
    unloadGraceMs: 5000,
  });
  const join = async (msg: Record<string, unknown>) => {
    const socket = new FakeSocket();
    socket.conn = hub.connect(socket);
    socket.conn.receive(JSON.stringify(msg));
    await settle();
    return socket;
  };
  try {
    const a = await join({ type: "join", room: "r" });
    const b = await join({ type: "join", room: "r" });
    const [joinedA] = a.take();
    const [joinedB] = b.take();
    // A reload: leave on unload, then the new page resumes at once.
    a.conn?.receive(JSON.stringify({ type: "leave", unload: true }));
    await settle();
    const reloaded = await join({
      type: "join",
      room: "r",
      token: joinedA.token,
    });
    const [resumed] = reloaded.take();
    assert.equal(resumed.peerId, joinedA.peerId);
    assert.equal(resumed.resumed, true);
    assert.deepEqual(b.take(), [], "the others saw nothing of the reload");
    // A closed tab: leave on unload and never come back.
    reloaded.conn?.receive(JSON.stringify({ type: "leave", unload: true }));
    await settle();
    time += 4999;
    await hub.sweep();
    assert.deepEqual(b.take(), [], "still a member inside the unload grace");
    time += 1;
    await hub.sweep();
    assert.deepEqual(b.take(), [
      { type: "peer-left", peerId: joinedA.peerId },
      { type: "room", host: joinedB.peerId, locked: false },
    ]);
  } finally {
    hub.shutdown();
    await settle();
    store.close();
  }
});

/** A SQLite store whose calls can be held or made to fail, by name. */
class FaultyStore extends SqliteStore {
  /** Calls that fail with StoreUnavailableError while listed. */
  readonly failing = new Set<string>();
  /** While set, addPeer waits for it. */
  gate?: Promise<void>;

  constructor() {
    super(":memory:");
  }

  #fault(name: string): void {
    if (this.failing.has(name)) {
      throw new StoreUnavailableError(`${name} failed (test)`);
    }
  }

  override async addPeer(
    ...args: Parameters<SqliteStore["addPeer"]>
  ): ReturnType<SqliteStore["addPeer"]> {
    await this.gate;
    this.#fault("addPeer");
    return await super.addPeer(...args);
  }

  override async listPeers(roomId: string) {
    this.#fault(`listPeers:${roomId}`);
    return await super.listPeers(roomId);
  }

  override async setAway(peerId: string, since: number, instanceId: string) {
    this.#fault("setAway");
    return await super.setAway(peerId, since, instanceId);
  }
}

Deno.test("Connection checks frame size as frames arrive while a join waits on the store", async () => {
  const store = new FaultyStore();
  using f = new Fixture({ maxMessageBytes: 1024 }, store);
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  store.gate = gate;
  const s = f.socket();
  s.conn?.receive(JSON.stringify({ type: "join", room: "r" }));
  s.conn?.receive(" ".repeat(2048));
  await settle();
  // Closed at once, not when the join is done.
  assert.deepEqual(s.closedWith, { code: 4502, reason: "too-large" });
  open();
  await settle();
});

Deno.test("Connection bounds the backlog while a join waits on the store and refuses the rest", async () => {
  const store = new FaultyStore();
  using f = new Fixture({ messageBurst: 1000 }, store);
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  store.gate = gate;
  const s = f.socket();
  s.conn?.receive(JSON.stringify({ type: "join", room: "r" }));
  for (let i = 0; i < 100; i++) {
    s.conn?.receive(JSON.stringify({ type: "ping", ref: i }));
  }
  await settle();
  // Refused as they arrived: the join is still waiting.
  const refused = s.take();
  assert.ok(refused.length > 0, "frames over the bound are refused at once");
  assert.ok(refused.every((m) => m.code === "rate-limited"));
  open();
  await settle();
  await settle();
  const after = s.take();
  assert.equal(after[0].type, "joined");
  const pongs = after.filter((m) => m.type === "pong");
  assert.equal(pongs.length + refused.length, 100);
  // The backlog kept the first frames, in order.
  assert.deepEqual(pongs.map((m) => m.ref), pongs.map((_, i) => i));
});

Deno.test("Connection counts frames against the rate limit as they arrive during a join", async () => {
  const store = new FaultyStore();
  using f = new Fixture({ messageBurst: 5, messageRate: 1 }, store);
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  store.gate = gate;
  const s = f.socket();
  s.conn?.receive(JSON.stringify({ type: "join", room: "r" }));
  for (let i = 0; i < 10; i++) {
    s.conn?.receive(JSON.stringify({ type: "ping", ref: i }));
  }
  await settle();
  assert.equal(
    s.take().filter((m) => m.code === "rate-limited").length,
    6,
    "the join and four pings fit the burst of 5",
  );
  open();
  await settle();
});

Deno.test("Hub.sweep() announces every removed peer even when loading one room fails", async () => {
  const store = new FaultyStore();
  using f = new Fixture({ resumeGraceMs: 1000 }, store);
  // Two rooms, each with a peer about to expire and one away for less long.
  const rooms = ["r1", "r2"];
  const expiring: string[] = [];
  const staying: { token: string; peerId: string }[] = [];
  for (const room of rooms) {
    const a = await f.joined(room);
    const b = await f.joined(room);
    expiring.push(a.peerId);
    staying.push(b);
    f.drop(a.socket);
  }
  await settle();
  f.time += 500;
  for (let i = 0; i < f.sockets.length; i++) {
    if (i % 2 === 1) f.drop(f.sockets[i]);
  }
  await settle();
  f.time += 600;
  store.failing.add("listPeers:r1");
  await f.hub.sweep();
  assert.equal(f.hub.pendingWrites, 1, "r1's announcement waits for a retry");
  store.failing.clear();
  await f.hub.sweep();
  assert.equal(f.hub.pendingWrites, 0);
  // Each staying peer finds the peer-left of its room's expired peer queued.
  for (const [i, b] of staying.entries()) {
    const again = f.socket();
    await f.send(again, { type: "join", room: rooms[i], token: b.token });
    const [joined, ...queued] = again.take();
    assert.equal(joined.resumed, true, JSON.stringify(joined));
    assert.deepEqual(
      queued.filter((m) => m.type === "peer-left").map((m) => m.peerId),
      [expiring[i]],
      rooms[i],
    );
  }
});

Deno.test("Hub keeps at most retryLimit failed writes, giving up the oldest", async () => {
  const store = new FaultyStore();
  using f = new Fixture({ retryLimit: 3 }, store);
  store.failing.add("setAway");
  for (let i = 0; i < 5; i++) {
    const a = await f.joined(`r${i}`);
    f.drop(a.socket);
  }
  await settle();
  assert.equal(f.hub.pendingWrites, 3);
  store.failing.clear();
  await f.hub.sweep();
  assert.equal(f.hub.pendingWrites, 0);
});

Deno.test("Hub answers internal and logs the stack when the store fails with a bug, not an outage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parley-hub-" });
  const logged: { level: string; event: string; error?: unknown }[] = [];
  const record = (level: string) => (event: string, fields = {}) =>
    logged.push({ level, event, ...fields });
  const log = {
    debug: record("debug"),
    info: record("info"),
    warn: record("warn"),
    error: record("error"),
  };
  try {
    const path = `${dir}/p.db`;
    using f = new Fixture({ log }, new SqliteStore(path));
    // Another hand breaks the schema: every join now hits a missing table.
    const other = new DatabaseSync(path);
    other.exec("DROP TABLE peers");
    other.close();
    const s = f.socket();
    await f.send(s, { type: "join", room: "r", ref: 1 });
    assert.deepEqual(s.take().map((m) => [m.type, m.code, m.ref]), [[
      "error",
      "internal",
      1,
    ]]);
    const errors = logged.filter((l) => l.level === "error");
    assert.equal(errors.length, 1, JSON.stringify(logged));
    assert.match(String(errors[0].error), /no such table: peers\n\s+at /);
    assert.ok(!logged.some((l) => l.event === "store.unavailable"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Hub without options takes its limits from the configuration defaults", () => {
  const store = new SqliteStore(":memory:");
  try {
    const hub = new Hub(store);
    assert.deepEqual(hub.limits, {
      maxRoomSize: DEFAULTS.maxRoomSize,
      maxMessageBytes: DEFAULTS.maxMessageBytes,
      resumeGraceMs: DEFAULTS.resumeGraceMs,
      queueLimit: DEFAULTS.queueLimit,
      pingIntervalMs: DEFAULTS.pingIntervalMs,
    });
  } finally {
    store.close();
  }
});

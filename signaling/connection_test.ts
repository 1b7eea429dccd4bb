import assert from "node:assert/strict";
import {
  type BoundSession,
  Connection,
  type ConnectionHost,
  type ConnectionOptions,
  type PeerSocket,
} from "./connection.ts";
import { DEFAULTS } from "./config.ts";
import { SILENT_LOGGER } from "./log.ts";
import { Metrics } from "./metrics.ts";
import {
  type JoinMessage,
  ProtocolError,
  type SignalMessage,
} from "./protocol.ts";
import { StoreUnavailableError } from "../storage/mod.ts";

interface FakeSession extends BoundSession {
  peerId: string;
}

/** A socket that records frames and its close. */
class FakeSocket implements PeerSocket {
  readonly sent: Record<string, unknown>[] = [];
  closedWith?: { code: number; reason: string };
  bufferedAmount = 0;

  send(text: string): void {
    this.sent.push(JSON.parse(text));
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }
}

/** A host that records what the connection asks of it. */
class FakeHost implements ConnectionHost<FakeSession> {
  readonly calls: string[] = [];
  /** While set, join waits for it. */
  gate?: Promise<void>;
  /** What join does after the gate. */
  onJoin: (conn: Connection<FakeSession>, msg: JoinMessage) => void = (
    conn,
  ) => {
    const session: FakeSession = { peerId: "me" };
    session.conn = conn;
    conn.attach(session);
  };

  async join(conn: Connection<FakeSession>, msg: JoinMessage) {
    this.calls.push(`join ${msg.room}`);
    await this.gate;
    this.onJoin(conn, msg);
  }
  leave(_conn: Connection<FakeSession>, unload: boolean) {
    this.calls.push(`leave ${unload}`);
    return Promise.resolve();
  }
  relay(_conn: Connection<FakeSession>, _raw: string, msg: SignalMessage) {
    this.calls.push(`relay ${msg.to}`);
  }
  iceServers() {
    this.calls.push("ice-servers");
    return { type: "ice-servers" as const, iceServers: [] };
  }
  dropped(session: FakeSession) {
    this.calls.push(`dropped ${session.peerId}`);
  }
  control(_conn: Connection<FakeSession>, msg: { type: string }) {
    this.calls.push(msg.type);
    return Promise.resolve();
  }
  closed() {
    this.calls.push("closed");
  }
}

function options(
  overrides: Partial<ConnectionOptions> = {},
): ConnectionOptions {
  return {
    ...DEFAULTS,
    inspect: () => {},
    now: () => 0,
    log: SILENT_LOGGER,
    metrics: new Metrics(),
    ...overrides,
  };
}

/** Lets pending promise callbacks run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function setup(overrides: Partial<ConnectionOptions> = {}) {
  const host = new FakeHost();
  const socket = new FakeSocket();
  const conn = new Connection(host, socket, options(overrides));
  return {
    host,
    socket,
    conn,
    [Symbol.dispose]: () => conn.handleClose(),
  };
}

Deno.test("Connection hands each message type to its host method", async () => {
  using c = setup();
  c.conn.receive(JSON.stringify({ type: "join", room: "r" }));
  await settle();
  c.conn.receive(JSON.stringify({ type: "signal", to: "you", data: 1 }));
  c.conn.receive(JSON.stringify({ type: "ice-servers" }));
  c.conn.receive(JSON.stringify({ type: "ping", ref: 4 }));
  c.conn.receive(JSON.stringify({ type: "leave", unload: true }));
  await settle();
  assert.deepEqual(c.host.calls, [
    "join r",
    "relay you",
    "ice-servers",
    "leave true",
  ]);
  assert.deepEqual(c.socket.sent.map((m) => m.type), ["ice-servers", "pong"]);
});

Deno.test("Connection holds messages sent during a join and hands them over after it, in order", async () => {
  using c = setup();
  const { promise, resolve } = Promise.withResolvers<void>();
  c.host.gate = promise;
  c.conn.receive(JSON.stringify({ type: "join", room: "r" }));
  c.conn.receive(JSON.stringify({ type: "signal", to: "a", data: 1 }));
  c.conn.receive(JSON.stringify({ type: "signal", to: "b", data: 1 }));
  await settle();
  assert.deepEqual(c.host.calls, ["join r"]);
  resolve();
  await settle();
  assert.deepEqual(c.host.calls, ["join r", "relay a", "relay b"]);
});

Deno.test("Connection tells its host closed, and dropped for a joined session, once", async () => {
  using c = setup();
  c.conn.receive(JSON.stringify({ type: "join", room: "r" }));
  await settle();
  c.conn.handleClose();
  c.conn.handleClose();
  assert.deepEqual(c.host.calls, ["join r", "closed", "dropped me"]);
});

Deno.test("Connection answers a host's ProtocolError with its code and ref, and counts it", async () => {
  const metrics = new Metrics();
  using c = setup({ metrics });
  c.host.onJoin = () => {
    throw new ProtocolError("room-full", "full");
  };
  c.conn.receive(JSON.stringify({ type: "join", room: "r", ref: "x" }));
  await settle();
  assert.deepEqual(c.socket.sent, [{
    type: "error",
    code: "room-full",
    message: "full",
    ref: "x",
  }]);
  assert.equal(metrics.errors.get("room-full"), 1);
  assert.equal(metrics.errorsTotal, 1);
});

Deno.test("Connection answers unavailable for a store outage and internal for anything else", async () => {
  const logged: string[] = [];
  const log = {
    ...SILENT_LOGGER,
    warn: (event: string) => void logged.push(`warn ${event}`),
    error: (event: string) => void logged.push(`error ${event}`),
  };
  using c = setup({ log });
  c.host.onJoin = () => {
    throw new StoreUnavailableError("down");
  };
  c.conn.receive(JSON.stringify({ type: "join", room: "r" }));
  await settle();
  c.host.onJoin = () => {
    throw new TypeError("a bug");
  };
  c.conn.receive(JSON.stringify({ type: "join", room: "r" }));
  await settle();
  assert.deepEqual(c.socket.sent.map((m) => m.code), [
    "unavailable",
    "internal",
  ]);
  assert.ok(!JSON.stringify(c.socket.sent).includes("a bug"));
  assert.deepEqual(logged, ["warn store.unavailable", "error handler.failed"]);
});

Deno.test("Connection closes with 4502 for an oversized frame while its host is busy with a join", async () => {
  using c = setup({ maxMessageBytes: 1024 });
  c.host.gate = new Promise(() => {});
  c.conn.receive(JSON.stringify({ type: "join", room: "r" }));
  c.conn.receive("x".repeat(1025));
  await settle();
  assert.deepEqual(c.socket.closedWith, { code: 4502, reason: "too-large" });
  assert.deepEqual(c.host.calls, ["join r", "closed"]);
});

Deno.test("Connection hands lock, admit, deny and remove to its host's control", async () => {
  using c = setup();
  for (
    const msg of [
      { type: "lock", locked: true },
      { type: "admit", knockId: "k" },
      { type: "deny", knockId: "k" },
      { type: "remove", peerId: "p" },
    ]
  ) {
    c.conn.receive(JSON.stringify(msg));
    await settle();
  }
  assert.deepEqual(c.host.calls, ["lock", "admit", "deny", "remove"]);
});

Deno.test("Connection stops its join timeout while knocking and starts it again when the knock ends", async () => {
  using c = setup({ joinTimeoutMs: 20 });
  c.conn.knocking(true);
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.equal(c.socket.closedWith, undefined, "closed while knocking");
  c.conn.knocking(false);
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.deepEqual(c.socket.closedWith, { code: 4001, reason: "join-timeout" });
});

Deno.test("Connection.run() waits for the message being handled, then runs in order", async () => {
  using c = setup();
  const { promise, resolve } = Promise.withResolvers<void>();
  c.host.gate = promise;
  c.conn.receive(JSON.stringify({ type: "join", room: "r" }));
  c.conn.run(() => {
    c.host.calls.push("task");
    return Promise.resolve();
  });
  c.conn.receive(JSON.stringify({ type: "signal", to: "a", data: 1 }));
  await settle();
  assert.deepEqual(c.host.calls, ["join r"]);
  resolve();
  await settle();
  assert.deepEqual(c.host.calls, ["join r", "task", "relay a"]);
});

/**
 * Micro-benchmark of the whole relay path in memory: `Connection.receive`
 * of a signal frame through size check, rate limits, parse, data checks and
 * `Hub.relay` to a fake socket of the other peer. No network, no store call
 * (relaying never writes); the store is SQLite in memory for the joins.
 *
 * Run: `deno bench signaling/hub_bench.ts`.
 *
 * @module
 */
import { Hub, type PeerSocket } from "./hub.ts";
import { SqliteStore } from "../storage/sqlite_store.ts";
import { cycleStep, signalFrame } from "../testing/messages.ts";

/** A socket that keeps the last frame it was sent. */
class FakeSocket implements PeerSocket {
  last = "";
  sent = 0;
  readonly bufferedAmount = 0;
  send(text: string): void {
    this.last = text;
    this.sent++;
  }
  close(): void {}
}

const UNLIMITED = 1_000_000_000;
const store = new SqliteStore(":memory:");
const hub = new Hub(store, {
  messageRate: UNLIMITED,
  messageBurst: UNLIMITED,
  candidateBurst: UNLIMITED,
  joinTimeoutMs: 3_600_000,
});

async function joined(room: string): Promise<[FakeSocket, string]> {
  const socket = new FakeSocket();
  const conn = hub.connect(socket);
  conn.receive(JSON.stringify({ type: "join", room }));
  for (let i = 0; i < 100 && !socket.last.includes('"joined"'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const msg = JSON.parse(socket.last);
  if (msg.type !== "joined") throw new Error(`join failed: ${socket.last}`);
  return [socket, msg.peerId];
}

const [firstSocket, firstId] = await joined("bench-room");
const secondSocket = new FakeSocket();
const second = hub.connect(secondSocket);
second.receive(JSON.stringify({ type: "join", room: "bench-room" }));
await new Promise((resolve) => setTimeout(resolve, 10));

const OFFER = signalFrame(firstId, 123_456.789, 1, cycleStep(0).tail);
const CANDIDATE = signalFrame(firstId, 123_456.789, 2, cycleStep(2).tail);

// Measure the real path only: the frame must reach the first peer.
second.receive(CANDIDATE);
if (!firstSocket.last.startsWith(CANDIDATE.slice(0, -1))) {
  throw new Error(`relay failed: ${firstSocket.last.slice(0, 200)}`);
}

Deno.bench({
  name: "Connection.receive → Hub.relay (offer, 4.2 KB)",
  group: "relay",
  fn: () => {
    second.receive(OFFER);
  },
});

Deno.bench({
  name: "Connection.receive → Hub.relay (candidate)",
  group: "relay",
  fn: () => {
    second.receive(CANDIDATE);
  },
});

Deno.bench({
  name: "Connection.receive ping → pong",
  group: "relay",
  fn: () => {
    second.receive('{"type":"ping","ref":1}');
  },
});

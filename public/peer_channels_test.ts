import assert from "node:assert/strict";
import { ChatModel } from "./chat_model.ts";
import {
  type ChannelLink,
  CHAT_BURST,
  CHAT_REFILL_MS,
  PeerChannels,
} from "./peer_channels.ts";
import { RoomModel } from "./room_model.ts";
import { type Fingerprints, safetyCode } from "./safety_code.ts";
import { TrustModel, trustOf } from "./trust_model.ts";

const hex = (byte: string) => Array(32).fill(byte).join(":");
const A = `sha-256 ${hex("AA")}`;
const B = `sha-256 ${hex("BB")}`;
const M1 = `sha-256 ${hex("C1")}`;
const M2 = `sha-256 ${hex("C2")}`;

/** A data channel that hands what it sends to its `peer`, a tick later. */
class FakeChannel {
  readyState: RTCDataChannelState = "connecting";
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  peer: FakeChannel | undefined;
  /** Decides what reaches the peer (a man in the middle may drop). */
  filter: (data: string) => boolean = () => true;
  send(data: string): void {
    if (!this.filter(data)) return;
    setTimeout(() => this.peer?.onmessage?.({ data }), 0);
  }
  open(): void {
    this.readyState = "open";
    this.onopen?.();
  }
}

/** A connection whose getStats() reports `view`'s certificates. */
function fakeLink(view: Fingerprints, channel: FakeChannel): ChannelLink {
  const cert = (id: string, fp: string) => ({
    id,
    type: "certificate",
    fingerprintAlgorithm: "sha-256",
    fingerprint: fp.slice("sha-256 ".length),
  });
  const stats = new Map<string, unknown>([
    ["T", {
      id: "T",
      type: "transport",
      localCertificateId: "L",
      remoteCertificateId: "R",
    }],
    ["L", cert("L", view.local)],
    ["R", cert("R", view.remote)],
  ]);
  const pc = { getStats: () => Promise.resolve(stats) };
  return {
    pc: pc as unknown as RTCPeerConnection,
    channel: channel as unknown as RTCDataChannel,
  };
}

function side(
  selfName: string,
  peerId: string,
  peerName: string,
  secret?: string,
  now?: () => number,
) {
  const room = new RoomModel();
  room.add(peerId, peerName, false);
  const chat = new ChatModel();
  const trust = new TrustModel();
  const channels = new PeerChannels({
    room,
    chat,
    trust,
    secret: () => secret,
    proofTimeoutMs: 50,
    now,
  });
  return { selfName, peerId, room, chat, trust, channels };
}

/** Two sides "a" and "b" joined by fake channels; each sees its `view`. */
function connect(options: {
  secretA?: string;
  secretB?: string;
  viewA?: Fingerprints;
  viewB?: Fingerprints;
  filter?: (data: string) => boolean;
  now?: () => number;
}) {
  const a = side("Al", "b", "Bea", options.secretA, options.now);
  const b = side("Bea", "a", "Al", options.secretB, options.now);
  const chA = new FakeChannel();
  const chB = new FakeChannel();
  chA.peer = chB;
  chB.peer = chA;
  if (options.filter) chA.filter = chB.filter = options.filter;
  a.channels.attach(
    "b",
    fakeLink(options.viewA ?? { local: A, remote: B }, chA),
  );
  b.channels.attach(
    "a",
    fakeLink(options.viewB ?? { local: B, remote: A }, chB),
  );
  return { a, b, open: () => (chA.open(), chB.open()) };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("PeerChannels gives both sides the same code and passes the check with one secret", async () => {
  const { a, b, open } = connect({
    secretA: "s".repeat(22),
    secretB: "s".repeat(22),
  });
  open();
  await until(
    () =>
      trustOf(a.trust, "b").auto === "passed" &&
      trustOf(b.trust, "a").auto === "passed",
    "both checks to pass",
  );
  assert.equal(trustOf(a.trust, "b").code, await safetyCode(A, B));
  assert.equal(trustOf(a.trust, "b").code, trustOf(b.trust, "a").code);
});

Deno.test("PeerChannels flags a man in the middle that relays the proofs", async () => {
  const secret = "s".repeat(22);
  const { a, b, open } = connect({
    secretA: secret,
    secretB: secret,
    viewA: { local: A, remote: M1 },
    viewB: { local: B, remote: M2 },
  });
  open();
  await until(
    () =>
      trustOf(a.trust, "b").auto === "failed" &&
      trustOf(b.trust, "a").auto === "failed",
    "both checks to fail",
  );
  assert.notEqual(trustOf(a.trust, "b").code, trustOf(b.trust, "a").code);
  assert.equal(a.trust.anySuspect.value, true);
});

Deno.test("PeerChannels flags a connection whose proof never comes", async () => {
  const secret = "s".repeat(22);
  const { a, open } = connect({
    secretA: secret,
    secretB: secret,
    filter: (data) => !data.includes('"proof"'),
  });
  open();
  await until(() => trustOf(a.trust, "b").auto === "pending", "pending");
  await until(() => trustOf(a.trust, "b").auto === "failed", "the timeout");
});

Deno.test("PeerChannels says 'missing' when the peer has no secret, and stays off without one", async () => {
  const { a, b, open } = connect({ secretA: "s".repeat(22) });
  open();
  await until(() => trustOf(a.trust, "b").auto === "missing", "missing");
  await until(() => trustOf(b.trust, "a").code !== "", "b's code");
  assert.equal(trustOf(b.trust, "a").auto, "off");
});

Deno.test("PeerChannels carries chat under the known name and a hand raised before the channel opened", async () => {
  const { a, b, open } = connect({});
  a.channels.setHand(true);
  open();
  await until(() => b.chat.hands.value.has("a"), "b to see a's hand");
  assert.equal(a.channels.sendChat("x".repeat(501)), -1);
  assert.equal(a.channels.sendChat("hello <b>"), 1);
  await until(() => b.chat.messages.value.length === 1, "b to get the message");
  const [message] = b.chat.messages.value;
  assert.equal(message.name, "Al");
  assert.equal(message.text, "hello <b>");
  assert.equal(a.chat.messages.value[0].self, true);
  a.channels.setHand(false);
  await until(() => !b.chat.hands.value.has("a"), "b to see the hand lowered");
  b.channels.forget("a");
  assert.equal(trustOf(b.trust, "a").code, "");
  a.channels.clear();
  assert.equal(a.chat.messages.value.length, 0);
});

Deno.test("PeerChannels takes a burst of 10 chat messages from a peer, drops the 11th, and one more a second later", async () => {
  let now = 1_000_000;
  const { a, b, open } = connect({ now: () => now });
  open();
  await until(() => a.trust.peers.value.size === 1, "a's channel to open");
  assert.equal(CHAT_BURST, 10);
  for (let i = 1; i <= CHAT_BURST + 1; i++) a.channels.sendChat(`m${i}`);
  await until(() => b.chat.messages.value.length === CHAT_BURST, "the burst");
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(b.chat.messages.value.length, CHAT_BURST);
  assert.equal(b.chat.messages.value.at(-1)?.text, `m${CHAT_BURST}`);
  now += CHAT_REFILL_MS;
  a.channels.sendChat("again");
  a.channels.sendChat("too soon");
  await until(
    () => b.chat.messages.value.length === CHAT_BURST + 1,
    "one more",
  );
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.deepEqual(
    b.chat.messages.value.slice(CHAT_BURST).map((m) => m.text),
    ["again"],
  );
});

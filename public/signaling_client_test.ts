import assert from "node:assert/strict";
import {
  BACKOFF_BASE_MS,
  BACKOFF_MAX_MS,
  backoffDelayMs,
  closeAction,
  SignalingClient,
  type SocketStatus,
} from "./signaling_client.ts";
import { CLOSE, parseServerMessage } from "../signaling/protocol.ts";

Deno.test("backoffDelayMs() doubles per attempt with jitter and stays under the cap", () => {
  assert.equal(backoffDelayMs(0, () => 0), BACKOFF_BASE_MS / 2);
  assert.equal(backoffDelayMs(0, () => 1), BACKOFF_BASE_MS);
  assert.equal(backoffDelayMs(3, () => 1), BACKOFF_BASE_MS * 8);
  assert.equal(backoffDelayMs(30, () => 1), BACKOFF_MAX_MS);
  assert.equal(backoffDelayMs(30, () => 0), BACKOFF_MAX_MS / 2);
});

Deno.test("closeAction() reconnects for 4000–4499 and dropped sockets, not for 4500+", () => {
  assert.equal(closeAction(4000), "reconnect");
  assert.equal(closeAction(4499), "reconnect");
  assert.equal(closeAction(1006), "reconnect");
  assert.equal(closeAction(4500), "stop");
  assert.equal(closeAction(4503), "stop");
  assert.equal(closeAction(4501), "replaced");
});

/** A WebSocket stand-in the test drives by hand. */
class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  drop(code: number) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

function makeClient() {
  FakeSocket.all = [];
  const statuses: [SocketStatus, number | undefined][] = [];
  const messages: unknown[] = [];
  let opens = 0;
  const client = new SignalingClient("ws://x/ws", {
    onOpen: () => opens++,
    onMessage: (m) => messages.push(m),
    onStatus: (s, code) => statuses.push([s, code]),
  }, {
    WebSocket: FakeSocket as unknown as typeof WebSocket,
    random: () => 0,
  });
  return { client, statuses, messages, opens: () => opens };
}

Deno.test("SignalingClient reconnects after a dropped socket and calls onOpen again", async () => {
  const { client, statuses, opens } = makeClient();
  client.start();
  FakeSocket.all[0].open();
  assert.equal(opens(), 1);
  FakeSocket.all[0].drop(1006);
  assert.deepEqual(statuses.at(-1), ["reconnecting", 1006]);
  await new Promise((r) => setTimeout(r, BACKOFF_BASE_MS / 2 + 20));
  assert.equal(FakeSocket.all.length, 2);
  FakeSocket.all[1].open();
  assert.equal(opens(), 2);
  client.stop();
});

Deno.test("SignalingClient stops for good when closed with 4501 (replaced)", async () => {
  const { client, statuses } = makeClient();
  client.start();
  FakeSocket.all[0].open();
  FakeSocket.all[0].drop(4501);
  assert.deepEqual(statuses.at(-1), ["closed", 4501]);
  await new Promise((r) => setTimeout(r, BACKOFF_BASE_MS + 20));
  assert.equal(FakeSocket.all.length, 1);
  client.stop();
});

Deno.test("SignalingClient send() refuses while the socket is not open", () => {
  const { client, messages } = makeClient();
  client.start();
  assert.equal(client.send({ type: "ping" }), false);
  FakeSocket.all[0].open();
  assert.equal(client.send({ type: "ping" }), true);
  assert.deepEqual(FakeSocket.all[0].sent, ['{"type":"ping"}']);
  FakeSocket.all[0].onmessage?.({ data: '{"type":"pong"}' });
  FakeSocket.all[0].onmessage?.({ data: "not json" });
  assert.deepEqual(messages, [{ type: "pong" }]);
  client.stop();
});

Deno.test("the client reads the server's own message types", () => {
  const msg = parseServerMessage(
    '{"type":"peer-joined","peerId":"p","name":"Ada"}',
  );
  assert.ok(msg?.type === "peer-joined");
  const name: string = msg.name;
  assert.equal(name, "Ada");
  // A field the server does not send is a type error, not a silent undefined.
  // @ts-expect-error: peer-joined carries no token
  assert.equal(msg.token, undefined);
  assert.equal(closeAction(CLOSE.replaced.code), "replaced");
});

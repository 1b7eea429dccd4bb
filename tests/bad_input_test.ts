/**
 * Bad input against a real server: every malformed frame, misuse and bad
 * handshake gets its documented error or close code (`docs/protocol.md`),
 * and a control room (two other peers exchanging numbered signals) keeps
 * working throughout.
 */
import assert from "node:assert/strict";
import { controlledServer, startTestServer } from "./support/server.ts";
import { ControlRoom, joinPeers, TestClient } from "./support/ws_client.ts";
import { handshakeHeaders, rawStatus } from "./support/http.ts";
import type { ErrorCode } from "../signaling/protocol.ts";

const SANITIZE = { sanitizeOps: true, sanitizeResources: true };

/** Frames that are not a valid message, with the error each one gets. */
const MALFORMED: [what: string, frame: string, code: ErrorCode][] = [
  ["not JSON", "{nope", "bad-message"],
  ["empty text", "", "bad-message"],
  ["a JSON array", "[1,2]", "bad-message"],
  ["a JSON string", '"join"', "bad-message"],
  ["JSON null", "null", "bad-message"],
  ["no type", '{"room":"x"}', "bad-message"],
  ["a numeric type", '{"type":7}', "bad-message"],
  ["an unknown type", '{"type":"shout"}', "unknown-type"],
  ["an upper-case type", '{"type":"JOIN","room":"x"}', "unknown-type"],
  ["a ref that is an object", '{"type":"ping","ref":{}}', "bad-message"],
  [
    "a ref over 64 characters",
    `{"type":"ping","ref":"${"r".repeat(65)}"}`,
    "bad-message",
  ],
  ["join without room", '{"type":"join"}', "invalid-room"],
  ["join with an empty room", '{"type":"join","room":""}', "invalid-room"],
  [
    "join with a 65-character room",
    `{"type":"join","room":"${"a".repeat(65)}"}`,
    "invalid-room",
  ],
  [
    "join with a room of other characters",
    '{"type":"join","room":"a b/c"}',
    "invalid-room",
  ],
  ["join with a numeric room", '{"type":"join","room":42}', "invalid-room"],
  [
    "join with a numeric name",
    '{"type":"join","room":"r","name":5}',
    "invalid-name",
  ],
  [
    "join with a 65-character name",
    `{"type":"join","room":"r","name":"${"n".repeat(65)}"}`,
    "invalid-name",
  ],
  [
    "join with a control character in the name",
    '{"type":"join","room":"r","name":"a\\u0007b"}',
    "invalid-name",
  ],
  [
    "join with a newline in the name",
    '{"type":"join","room":"r","name":"a\\nb"}',
    "invalid-name",
  ],
  [
    "join with an empty token",
    '{"type":"join","room":"r","token":""}',
    "bad-message",
  ],
  [
    "join with a numeric token",
    '{"type":"join","room":"r","token":1}',
    "bad-message",
  ],
  ["signal before join", '{"type":"signal","to":"x","data":{}}', "not-joined"],
  ["leave before join", '{"type":"leave"}', "not-joined"],
  ["ice-servers before join", '{"type":"ice-servers"}', "not-joined"],
];

/** Signals with missing or mistyped fields, sent by a joined socket. */
const BAD_SIGNALS: [what: string, frame: (to: string) => string][] = [
  ["no to", () => '{"type":"signal","data":{}}'],
  ["an empty to", () => '{"type":"signal","to":"","data":{}}'],
  ["a numeric to", () => '{"type":"signal","to":1,"data":{}}'],
  ["no data", (to) => `{"type":"signal","to":"${to}"}`],
  ["null data", (to) => `{"type":"signal","to":"${to}","data":null}`],
];

Deno.test({
  name: "the server answers each malformed frame with its error code",
  ...SANITIZE,
  async fn(t) {
    await using fixture = await controlledServer();
    const { server, control } = fixture;

    for (const [what, frame, code] of MALFORMED) {
      await t.step(`${code} for ${what}`, async () => {
        await using client = await TestClient.connect(server.wsUrl);
        client.send(frame);
        const error = await client.nextError(code);
        assert.equal(typeof error.message, "string");
        // The socket stays usable after one error.
        await client.expectNothingElse();
        await control.check();
      });
    }

    await t.step("the error echoes a valid ref", async () => {
      await using client = await TestClient.connect(server.wsUrl);
      client.send({ type: "shout", ref: "x1" });
      assert.equal((await client.nextError("unknown-type")).ref, "x1");
      client.send({ type: "join", room: "no spaces", ref: 9 });
      assert.equal((await client.nextError("invalid-room")).ref, 9);
      await control.check();
    });

    await t.step("bad-message for signals with bad fields", async () => {
      await using pair = await joinPeers(server.wsUrl, "bad-signals", [
        "s",
        "r",
      ]);
      const [sender, receiver] = pair.clients;
      for (const [what, frame] of BAD_SIGNALS) {
        sender.send(frame(pair.ids[1]));
        const error = await sender.nextError("bad-message");
        assert.ok(error.message, what);
      }
      await receiver.expectNothingElse();
      await control.check();
    });

    await t.step("binary-frame for a binary frame", async () => {
      await using client = await TestClient.connect(server.wsUrl);
      client.sendBinary();
      await client.nextError("binary-frame");
      await client.join("after-binary");
      await control.check();
    });

    await t.step("already-joined for a second join", async () => {
      await using client = await TestClient.connect(server.wsUrl);
      const first = await client.join("twice");
      client.send({ type: "join", room: "twice", ref: 2 });
      assert.equal((await client.nextError("already-joined")).ref, 2);
      client.send({ type: "join", room: "elsewhere" });
      await client.nextError("already-joined");
      client.send({ type: "join", room: "twice", token: first.token });
      await client.nextError("already-joined");
      await control.check();
    });
  },
});

Deno.test({
  name: "a frame over maxMessageBytes closes the socket with 4502",
  ...SANITIZE,
  async fn(t) {
    await using server = await startTestServer();
    await using control = await ControlRoom.open(server.wsUrl);
    await using pair = await joinPeers(server.wsUrl, "big", ["s", "r"]);
    const [sender, receiver] = pair.clients;
    const to = pair.ids[1];
    const frameOf = (bytes: number, fill = "x") => {
      const head = `{"type":"signal","to":"${to}","data":{"pad":"`;
      const tail = '"}}';
      const padBytes = bytes - head.length - tail.length;
      const unit = new TextEncoder().encode(fill).length;
      return head + fill.repeat(padBytes / unit) + tail;
    };

    await t.step("exactly 64 KiB is relayed", async () => {
      const frame = frameOf(65536);
      assert.equal(new TextEncoder().encode(frame).length, 65536);
      sender.send(frame);
      const msg = await receiver.next("signal");
      assert.equal(msg.from, pair.ids[0]);
      assert.deepEqual(msg.data, JSON.parse(frame).data);
      await sender.expectNothingElse();
      await control.check();
    });

    await t.step("over 64 KiB of UTF-8 in fewer code units", async () => {
      const frame = `{"type":"signal","to":"${to}","data":{"pad":"${
        "é".repeat(33_000)
      }"}}`;
      assert.ok(frame.length < 65536);
      assert.ok(new TextEncoder().encode(frame).length > 65536);
      await using big = await TestClient.connect(server.wsUrl);
      await big.join("big");
      await sender.next("peer-joined");
      await receiver.next("peer-joined");
      big.send(frame);
      assert.deepEqual(await big.waitClose(), {
        code: 4502,
        reason: "too-large",
      });
      await control.check();
    });

    await t.step("one byte more closes the socket", async () => {
      sender.send(frameOf(65537));
      assert.deepEqual(await sender.waitClose(), {
        code: 4502,
        reason: "too-large",
      });
      await receiver.expectNothingElse();
      await control.check();
    });
  },
});

Deno.test({
  name: "errors past ERROR_BUDGET close the socket with 4500",
  ...SANITIZE,
  async fn(t) {
    await using server = await startTestServer({
      env: { ERROR_BUDGET: "16" },
    });
    await using control = await ControlRoom.open(server.wsUrl);

    await t.step("refusals that are not bad input spend nothing", async () => {
      await using pair = await joinPeers(server.wsUrl, "refusals", ["a"]);
      const [a] = pair.clients;
      for (let i = 0; i < 20; i++) {
        a.signal("Tm9ib2R5SG9tZS0xMjM0NTY", { i });
        await a.nextError("unknown-peer");
      }
      await a.expectNothingElse();
      await control.check();
    });

    await t.step(
      "the 16th bad frame gets its error, then close 4500",
      async () => {
        await using client = await TestClient.connect(server.wsUrl);
        for (let i = 0; i < 15; i++) {
          client.send(i % 2 ? "not json" : '{"type":"nope"}');
          await client.next("error");
        }
        // 15 errors leave the socket open and working.
        await client.expectNothingElse();
        await control.check();
        client.send("not json");
        await client.nextError("bad-message");
        assert.deepEqual(await client.waitClose(), {
          code: 4500,
          reason: "protocol-error",
        });
        await control.check();
      },
    );

    await t.step("a burst of bad frames is cut off at the budget", async () => {
      await using client = await TestClient.connect(server.wsUrl);
      for (let i = 0; i < 40; i++) client.sendBinary();
      for (let i = 0; i < 16; i++) await client.nextError("binary-frame");
      assert.equal((await client.waitClose()).code, 4500);
      assert.equal(client.pending.length, 0);
      await control.check();
    });
  },
});

Deno.test({
  name: "a socket that does not join within JOIN_TIMEOUT is closed with 4001",
  ...SANITIZE,
  async fn(t) {
    await using server = await startTestServer({
      env: { JOIN_TIMEOUT: "500ms" },
    });
    await using control = await ControlRoom.open(server.wsUrl);

    await t.step("an idle socket", async () => {
      await using idle = await TestClient.connect(server.wsUrl);
      assert.deepEqual(await idle.waitClose(), {
        code: 4001,
        reason: "join-timeout",
      });
      await control.check();
    });

    await t.step("a socket that only pings", async () => {
      await using pinger = await TestClient.connect(server.wsUrl);
      pinger.send({ type: "ping" });
      await pinger.next("pong");
      assert.equal((await pinger.waitClose()).code, 4001);
      await control.check();
    });
  },
});

Deno.test({
  name: "GET /ws answers an invalid handshake with 426 or 400, never 500",
  ...SANITIZE,
  async fn(t) {
    await using server = await startTestServer();
    await using control = await ControlRoom.open(server.wsUrl);
    const cases: [
      string,
      { method?: string; headers: Record<string, string> },
      number,
    ][] = [
      [
        "no Upgrade header",
        { headers: handshakeHeaders({ Upgrade: null }) },
        426,
      ],
      ["Upgrade is not websocket", {
        headers: handshakeHeaders({ Upgrade: "h2c" }),
      }, 400],
      ["no Sec-WebSocket-Key", {
        headers: handshakeHeaders({ "Sec-WebSocket-Key": null }),
      }, 400],
      ["a short Sec-WebSocket-Key", {
        headers: handshakeHeaders({ "Sec-WebSocket-Key": "c2hvcnQ=" }),
      }, 400],
      ["a key that is not base64", {
        headers: handshakeHeaders({
          "Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!==",
        }),
      }, 400],
      ["version 8", {
        headers: handshakeHeaders({ "Sec-WebSocket-Version": "8" }),
      }, 400],
      ["no version", {
        headers: handshakeHeaders({ "Sec-WebSocket-Version": null }),
      }, 400],
      ["POST", { method: "POST", headers: handshakeHeaders() }, 400],
      ["no Connection: Upgrade", {
        headers: handshakeHeaders({ Connection: "keep-alive" }),
      }, 400],
    ];
    for (const [what, request, status] of cases) {
      await t.step(`${status} for ${what}`, async () => {
        assert.equal(await rawStatus(server.port, request), status);
        await control.check();
      });
    }
    await t.step("fetch without Upgrade gets 426", async () => {
      const res = await fetch(`${server.origin}/ws`);
      await res.body?.cancel();
      assert.equal(res.status, 426);
      await control.check();
    });
  },
});

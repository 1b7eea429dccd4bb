import assert from "node:assert/strict";
import {
  CLOSE,
  encode,
  exceedsUtf8Bytes,
  isValidRoomId,
  mayReconnect,
  parseClientMessage,
  parseServerMessage,
  ProtocolError,
  relayedSignal,
  type ServerMessage,
  type SignalMessage,
} from "./protocol.ts";

/** The code parseClientMessage() throws for `raw`. */
function codeOf(raw: string): string {
  try {
    parseClientMessage(raw);
  } catch (error) {
    assert.ok(error instanceof ProtocolError, String(error));
    return error.code;
  }
  assert.fail(`parsed without error: ${raw}`);
}

Deno.test("parseClientMessage() throws bad-message when the frame is not a JSON object", () => {
  for (
    const raw of ["", "{", "nope", "[]", "[1]", "1", '"s"', "null", "true"]
  ) {
    assert.equal(codeOf(raw), "bad-message", raw);
  }
});

Deno.test("parseClientMessage() throws on a missing, mistyped or unknown type", () => {
  assert.equal(codeOf("{}"), "bad-message");
  assert.equal(codeOf('{"type":1}'), "bad-message");
  assert.equal(codeOf('{"type":null}'), "bad-message");
  assert.equal(codeOf('{"type":"shout"}'), "unknown-type");
  assert.equal(codeOf('{"type":"Join","room":"r"}'), "unknown-type");
  assert.equal(codeOf('{"type":"__proto__"}'), "unknown-type");
  assert.equal(codeOf('{"type":"toString"}'), "unknown-type");
});

Deno.test("parseClientMessage() echoes the ref of a failing message", () => {
  try {
    parseClientMessage('{"type":"shout","ref":"abc"}');
    assert.fail("no error");
  } catch (error) {
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.ref, "abc");
    assert.ok(error.message.length > 0);
  }
});

Deno.test("parseClientMessage() accepts string and number refs and refuses others", () => {
  assert.equal(parseClientMessage('{"type":"ping","ref":17}').ref, 17);
  assert.equal(parseClientMessage('{"type":"ping","ref":"x"}').ref, "x");
  const ref64 = "r".repeat(64);
  assert.equal(
    parseClientMessage(`{"type":"ping","ref":"${ref64}"}`).ref,
    ref64,
  );
  assert.equal(codeOf(`{"type":"ping","ref":"${ref64}r"}`), "bad-message");
  for (const ref of ["{}", "[]", "true", "null"]) {
    assert.equal(codeOf(`{"type":"ping","ref":${ref}}`), "bad-message", ref);
  }
  assert.equal(parseClientMessage('{"type":"ping"}').ref, undefined);
});

Deno.test("parseClientMessage() parses join and checks room, name and token", () => {
  assert.deepEqual(
    parseClientMessage(
      '{"type":"join","room":"k3x9-standup","name":"Ada","ref":1}',
    ),
    { type: "join", room: "k3x9-standup", name: "Ada", ref: 1 },
  );
  const withToken = parseClientMessage(
    '{"type":"join","room":"r","token":"p.s"}',
  );
  assert.equal(withToken.type === "join" && withToken.token, "p.s");

  for (
    const room of [
      '""',
      `"${"a".repeat(65)}"`,
      '"a b"',
      '"é"',
      "1",
      "null",
      '"a/b"',
    ]
  ) {
    assert.equal(
      codeOf(`{"type":"join","room":${room}}`),
      "invalid-room",
      room,
    );
  }
  assert.equal(codeOf('{"type":"join"}'), "invalid-room");
  assert.equal(
    parseClientMessage(`{"type":"join","room":"${"A_-9".repeat(16)}"}`).type,
    "join",
  );

  for (
    const name of [
      "1",
      "null",
      `"${"n".repeat(65)}"`,
      '"a\\u0000"',
      '"a\\u001f"',
      '"a\\u007f"',
      '"a\\u0085"',
      '"a\\u2028"',
      '"tab\\there"',
    ]
  ) {
    assert.equal(
      codeOf(`{"type":"join","room":"r","name":${name}}`),
      "invalid-name",
      name,
    );
  }
  assert.equal(
    (parseClientMessage(
      `{"type":"join","room":"r","name":"${"n".repeat(64)}"}`,
    ) as { name: string }).name.length,
    64,
  );

  for (const token of ['""', "1", "{}", `"${"t".repeat(129)}"`]) {
    assert.equal(
      codeOf(`{"type":"join","room":"r","token":${token}}`),
      "bad-message",
      token,
    );
  }
});

Deno.test("parseClientMessage() parses signal and refuses a missing to or data", () => {
  const msg = parseClientMessage(
    '{"type":"signal","to":"p","data":{"x":1},"ref":2}',
  );
  assert.deepEqual(msg, {
    type: "signal",
    to: "p",
    data: { x: 1 },
    ref: 2,
    plain: true,
  });
  assert.equal(codeOf('{"type":"signal","data":{}}'), "bad-message");
  assert.equal(codeOf('{"type":"signal","to":"","data":{}}'), "bad-message");
  assert.equal(codeOf('{"type":"signal","to":5,"data":{}}'), "bad-message");
  assert.equal(codeOf('{"type":"signal","to":"p"}'), "bad-message");
  assert.equal(codeOf('{"type":"signal","to":"p","data":null}'), "bad-message");
  // Any JSON value but null is data.
  for (const data of ["0", "false", '""', "[]", '"s"']) {
    const parsed = parseClientMessage(
      `{"type":"signal","to":"p","data":${data}}`,
    );
    assert.deepEqual((parsed as SignalMessage).data, JSON.parse(data));
  }
});

Deno.test("parseClientMessage() marks a signal plain only when it has no other fields", () => {
  const plain = (raw: string) =>
    (parseClientMessage(raw) as SignalMessage).plain;
  assert.equal(plain('{"type":"signal","to":"p","data":1}'), true);
  assert.equal(plain('{"type":"signal","to":"p","data":1,"ref":"r"}'), true);
  assert.equal(plain('{"type":"signal","to":"p","data":1,"from":"x"}'), false);
  assert.equal(plain('{"type":"signal","to":"p","data":1,"extra":0}'), false);
  assert.equal(
    plain('{"type":"signal","to":"p","data":1,"__proto__":{"from":"x"}}'),
    false,
  );
});

Deno.test("parseClientMessage() parses leave, ping and ice-servers", () => {
  assert.deepEqual(parseClientMessage('{"type":"leave"}'), {
    type: "leave",
    ref: undefined,
  });
  assert.deepEqual(parseClientMessage('{"type":"ping","ref":3}'), {
    type: "ping",
    ref: 3,
  });
  assert.deepEqual(parseClientMessage('{"type":"ice-servers"}'), {
    type: "ice-servers",
    ref: undefined,
  });
});

Deno.test("parseClientMessage() parses the host's lock, admit, deny and remove, and refuses mistyped fields", () => {
  assert.deepEqual(parseClientMessage('{"type":"lock","locked":true}'), {
    type: "lock",
    locked: true,
    ref: undefined,
  });
  assert.deepEqual(
    parseClientMessage('{"type":"admit","knockId":"k","ref":1}'),
    {
      type: "admit",
      knockId: "k",
      ref: 1,
    },
  );
  assert.deepEqual(parseClientMessage('{"type":"deny","knockId":"k"}'), {
    type: "deny",
    knockId: "k",
    ref: undefined,
  });
  assert.deepEqual(parseClientMessage('{"type":"remove","peerId":"p"}'), {
    type: "remove",
    peerId: "p",
    ref: undefined,
  });
  // An ID of 64 characters passes, 65 does not.
  assert.equal(
    (parseClientMessage(
      JSON.stringify({ type: "remove", peerId: "p".repeat(64) }),
    ) as { peerId: string }).peerId.length,
    64,
  );
  for (
    const raw of [
      '{"type":"lock"}',
      '{"type":"lock","locked":1}',
      '{"type":"admit"}',
      '{"type":"deny","knockId":""}',
      '{"type":"remove","peerId":null}',
      JSON.stringify({ type: "remove", peerId: "p".repeat(65) }),
    ]
  ) {
    assert.throws(
      () => parseClientMessage(raw),
      (e) => e instanceof ProtocolError && e.code === "bad-message",
      raw,
    );
  }
});

Deno.test("parseClientMessage() is not confused by __proto__ keys", () => {
  // JSON.parse makes "__proto__" an own key: nothing is inherited from it.
  assert.equal(
    codeOf('{"__proto__":{"type":"join","room":"r"}}'),
    "bad-message",
  );
  const join = parseClientMessage(
    '{"type":"join","room":"r","__proto__":{"name":"x","token":"p.s"}}',
  );
  assert.deepEqual(join, { type: "join", room: "r", ref: undefined });
  assert.equal(
    codeOf('{"type":"signal","__proto__":{"to":"p","data":1}}'),
    "bad-message",
  );
  assert.equal(({} as Record<string, unknown>).type, undefined);
  assert.equal(({} as Record<string, unknown>).name, undefined);
});

Deno.test("relayedSignal() appends the real sender to a plain frame", () => {
  const raw = '{"type":"signal","to":"b","data":{"sdp":"v=0"}}';
  const msg = parseClientMessage(raw) as SignalMessage;
  const out = relayedSignal(raw, msg, "alice");
  assert.equal(
    out,
    '{"type":"signal","to":"b","data":{"sdp":"v=0"},"from":"alice"}',
  );
  assert.deepEqual(JSON.parse(out), {
    type: "signal",
    to: "b",
    data: { sdp: "v=0" },
    from: "alice",
  });
});

Deno.test("relayedSignal() never lets a forged from survive", () => {
  const forged = [
    '{"type":"signal","from":"mallory","to":"b","data":1}',
    '{"type":"signal","to":"b","data":1,"from":"mallory"}',
    '{"type":"signal","to":"b","data":1,"from":"mallory","from":"eve"}',
    '{"type":"signal","to":"b","data":1,"\\u0066rom":"mallory"}',
    '{"type":"signal","to":"b","data":1,"__proto__":{"from":"mallory"}}',
    '{"type":"signal","to":"b","data":1}  ',
    '{"type":"signal","to":"b","data":{"a":"}"}}\n',
  ];
  for (const raw of forged) {
    const msg = parseClientMessage(raw) as SignalMessage;
    const out = relayedSignal(raw, msg, "alice");
    const parsed = JSON.parse(out);
    assert.equal(parsed.from, "alice", raw);
    assert.ok(!out.includes("mallory"), `forged ID relayed: ${out}`);
    assert.equal(parsed.type, "signal");
    assert.deepEqual(parsed.data, msg.data);
  }
});

Deno.test("relayedSignal() output is valid JSON for any parseable plain frame", () => {
  const frames = [
    ' {"type":"signal","to":"b","data":[1,{"x":"}"}]} ',
    '{"data":"}","to":"b","type":"signal"}',
    '{"type":"signal","to":"b","data":"\\u007d"}',
  ];
  for (const raw of frames) {
    const msg = parseClientMessage(raw) as SignalMessage;
    const parsed = JSON.parse(relayedSignal(raw, msg, "alice"));
    assert.equal(parsed.from, "alice");
    assert.deepEqual(parsed.data, msg.data);
  }
});

Deno.test("exceedsUtf8Bytes() counts UTF-8 bytes, not UTF-16 code units", () => {
  assert.equal(exceedsUtf8Bytes("", 10), false);
  assert.equal(exceedsUtf8Bytes("abc", 3), false);
  assert.equal(exceedsUtf8Bytes("abcd", 3), true);
  assert.equal(exceedsUtf8Bytes("é", 2), false);
  assert.equal(exceedsUtf8Bytes("éé", 3), true);
  assert.equal(exceedsUtf8Bytes("€", 3), false);
  assert.equal(exceedsUtf8Bytes("€", 2), true);
  assert.equal(exceedsUtf8Bytes("😀", 4), false);
  assert.equal(exceedsUtf8Bytes("😀", 3), true);
  const big = "x".repeat(65536);
  assert.equal(exceedsUtf8Bytes(big, 65536), false);
  assert.equal(exceedsUtf8Bytes(big + "x", 65536), true);
  assert.equal(exceedsUtf8Bytes("é".repeat(32768), 65536), false);
  assert.equal(exceedsUtf8Bytes("é".repeat(32769), 65536), true);
});

Deno.test("isValidRoomId() accepts 1-64 characters of [A-Za-z0-9_-] only", () => {
  assert.equal(isValidRoomId("a"), true);
  assert.equal(isValidRoomId("x".repeat(64)), true);
  assert.equal(isValidRoomId("x".repeat(65)), false);
  assert.equal(isValidRoomId(""), false);
  assert.equal(isValidRoomId("a\n"), false);
  assert.equal(isValidRoomId(7), false);
});

Deno.test("CLOSE reasons are short printable ASCII", () => {
  for (const { reason } of Object.values(CLOSE)) {
    assert.match(reason, /^[\x20-\x7e]{1,32}$/);
  }
});

Deno.test("parseServerMessage() reads back every message the server encodes", () => {
  const limits = {
    maxRoomSize: 8,
    maxMessageBytes: 65536,
    resumeGraceMs: 30000,
    queueLimit: 256,
    pingIntervalMs: 20000,
  };
  const messages: ServerMessage[] = [
    {
      type: "joined",
      room: "r",
      peerId: "p",
      token: "t",
      resumed: false,
      peers: [{ peerId: "q", name: "Q" }],
      iceServers: [{ urls: ["turn:x"], username: "u", credential: "c" }],
      iceServersTtlMs: 1000,
      limits,
      host: "p",
      locked: false,
      ref: 1,
    },
    { type: "ice-servers", iceServers: [{ urls: "stun:x" }] },
    { type: "peer-joined", peerId: "q", name: "" },
    { type: "peer-left", peerId: "q" },
    { type: "signal", from: "q", data: { hello: true } },
    { type: "error", code: "room-full", message: "full", ref: "a" },
    { type: "pong" },
    { type: "room", host: "p", locked: true },
    { type: "room", host: null, locked: false },
    { type: "knocking", knockId: "k", ref: 2 },
    { type: "knock", knockId: "k", name: "Grace" },
    { type: "knock-ended", knockId: "k" },
  ];
  for (const msg of messages) {
    assert.deepEqual(parseServerMessage(encode(msg)), msg, msg.type);
  }
  // A relayed plain frame carries the sender's to and ref as well.
  const raw = '{"type":"signal","to":"me","data":{"n":1},"ref":3}';
  const relayed = relayedSignal(
    raw,
    parseClientMessage(raw) as SignalMessage,
    "you",
  );
  assert.deepEqual(parseServerMessage(relayed), {
    type: "signal",
    to: "me",
    data: { n: 1 },
    ref: 3,
    from: "you",
  });
});

Deno.test("parseServerMessage() refuses frames whose fields the client could not read", () => {
  for (
    const raw of [
      "nope",
      "[]",
      '{"type":"peer-joined","peerId":"q"}',
      '{"type":"peer-left","peerId":7}',
      '{"type":"signal","data":1}',
      '{"type":"error","code":"no-such-code","message":"x"}',
      '{"type":"joined","room":"r","peerId":"p","token":"t","resumed":true,"peers":[],"iceServers":[]}',
      '{"type":"ice-servers","iceServers":[{"urls":5}]}',
      '{"type":"pong","ref":{}}',
      '{"type":"joined","room":"r","peerId":"p","token":"t","resumed":true,"peers":[],"iceServers":[],"limits":{"maxRoomSize":8,"maxMessageBytes":1,"resumeGraceMs":1,"queueLimit":1,"pingIntervalMs":1}}',
      '{"type":"room","host":3,"locked":false}',
      '{"type":"room","host":"p"}',
      '{"type":"knock","knockId":"k"}',
      '{"type":"knocking"}',
      '{"type":"surprise"}',
    ]
  ) {
    assert.equal(parseServerMessage(raw), undefined, raw);
  }
});

Deno.test("mayReconnect() is false exactly for the 4500-4999 close codes", () => {
  for (const { code } of Object.values(CLOSE)) {
    assert.equal(mayReconnect(code), code < 4500, String(code));
  }
  assert.equal(mayReconnect(1006), true);
  assert.equal(mayReconnect(4999), false);
  assert.equal(mayReconnect(5000), true);
});

import assert from "node:assert/strict";
import {
  ChatModel,
  isChatText,
  MAX_CHAT_CHARS,
  MAX_KEPT_MESSAGES,
  MAX_RAW_CHARS,
  parseChannelMessage,
} from "./chat_model.ts";
import { isSuspect, isVerified, TrustModel, trustOf } from "./trust_model.ts";

const chat = (text: string) => JSON.stringify({ type: "chat", text, ts: 1 });

Deno.test("parseChannelMessage() takes chat up to 500 characters and drops 501", () => {
  assert.equal(MAX_CHAT_CHARS, 500);
  const atLimit = "x".repeat(500);
  assert.deepEqual(parseChannelMessage(chat(atLimit)), {
    type: "chat",
    text: atLimit,
    ts: 1,
  });
  assert.equal(parseChannelMessage(chat("x".repeat(501))), undefined);
  assert.equal(parseChannelMessage(chat("")), undefined);
  assert.equal(parseChannelMessage(chat("   ")), undefined);
});

Deno.test("parseChannelMessage() reads no raw message past 4096 characters", () => {
  // 500 escaped characters (6 each) still fit under the raw limit.
  const escaped = `{"type":"chat","text":"${"\\u00e9".repeat(500)}","ts":1}`;
  assert.ok(escaped.length <= MAX_RAW_CHARS);
  assert.equal(parseChannelMessage(escaped)?.type, "chat");
  const padded = (n: number) => {
    const base = `{"type":"hand","raised":true}`;
    return base.slice(0, -1) + " ".repeat(n - base.length) + "}";
  };
  assert.equal(padded(MAX_RAW_CHARS).length, MAX_RAW_CHARS);
  assert.deepEqual(parseChannelMessage(padded(MAX_RAW_CHARS)), {
    type: "hand",
    raised: true,
  });
  assert.equal(parseChannelMessage(padded(MAX_RAW_CHARS + 1)), undefined);
});

Deno.test("parseChannelMessage() refuses malformed and unknown messages", () => {
  for (
    const raw of [
      "not json",
      "null",
      "[]",
      `{"type":"chat","text":5,"ts":1}`,
      `{"type":"chat","text":"hi"}`,
      `{"type":"chat","text":"hi","ts":"1"}`,
      `{"type":"hand","raised":"yes"}`,
      `{"type":"proof","mac":"short"}`,
      `{"type":"html","html":"<b>"}`,
      new ArrayBuffer(4),
      42,
    ]
  ) {
    assert.equal(parseChannelMessage(raw), undefined, String(raw));
  }
  assert.deepEqual(parseChannelMessage(`{"type":"proof","mac":null}`), {
    type: "proof",
    mac: null,
  });
  const mac = "a".repeat(43);
  assert.deepEqual(
    parseChannelMessage(JSON.stringify({ type: "proof", mac })),
    { type: "proof", mac },
  );
});

Deno.test("isChatText() allows 1 to 500 characters", () => {
  assert.equal(isChatText("x".repeat(500)), true);
  assert.equal(isChatText("x".repeat(501)), false);
  assert.equal(isChatText(" "), false);
});

Deno.test("ChatModel keeps the latest 200 messages and each peer's hand", () => {
  const model = new ChatModel(() => 1000);
  for (let i = 0; i < MAX_KEPT_MESSAGES + 1; i++) {
    model.add(i % 2 ? "p1" : "", "Ada", `m${i}`);
  }
  assert.equal(model.messages.value.length, MAX_KEPT_MESSAGES);
  assert.equal(model.messages.value[0].text, "m1");
  assert.equal(model.messages.value.at(-1)?.text, `m${MAX_KEPT_MESSAGES}`);
  assert.equal(model.messages.value.at(-1)?.self, true);
  model.setHand("p1", true);
  model.setHand("p2", true);
  model.setHand("p1", false);
  assert.deepEqual([...model.hands.value], ["p2"]);
  model.clear();
  assert.equal(model.messages.value.length, 0);
  assert.equal(model.hands.value.size, 0);
});

Deno.test("TrustModel resets the verdict when a peer's code changes", () => {
  const trust = new TrustModel();
  trust.setCode("p1", "111 111 111 111");
  trust.setVerdict("p1", "match");
  assert.equal(isVerified(trustOf(trust, "p1")), true);
  trust.setCode("p1", "111 111 111 111");
  assert.equal(trustOf(trust, "p1").verdict, "match");
  trust.setCode("p1", "222 222 222 222");
  assert.equal(trustOf(trust, "p1").verdict, "unchecked");
  trust.setAuto("p1", "failed");
  assert.equal(isSuspect(trustOf(trust, "p1")), true);
  assert.equal(trust.anySuspect.value, true);
  trust.setVerdict("p1", "match");
  // A failed automatic check is not undone by a click.
  assert.equal(isVerified(trustOf(trust, "p1")), false);
  trust.forget("p1");
  assert.equal(trustOf(trust, "p1").code, "");
});

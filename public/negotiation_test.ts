import assert from "node:assert/strict";
import {
  hasTurnServer,
  isOfferCollision,
  isPolite,
  parseSignalData,
  planAfterJoin,
  turnFailureNote,
} from "./negotiation.ts";

Deno.test("isPolite() makes the lower peer ID polite, the other not", () => {
  assert.equal(isPolite("A", "B"), true);
  assert.equal(isPolite("B", "A"), false);
});

Deno.test("isOfferCollision() is true for an offer while making or holding one", () => {
  assert.equal(isOfferCollision("offer", true, "stable"), true);
  assert.equal(isOfferCollision("offer", false, "have-local-offer"), true);
  assert.equal(isOfferCollision("offer", false, "stable"), false);
  assert.equal(isOfferCollision("answer", true, "have-local-offer"), false);
});

Deno.test("planAfterJoin() greets nobody when the join is fresh", () => {
  assert.deepEqual(planAfterJoin(false, ["a", "b"], []), {
    hello: [],
    close: [],
  });
});

Deno.test("planAfterJoin() greets members without a connection when resumed", () => {
  assert.deepEqual(planAfterJoin(true, ["a", "b"], ["a", "gone"]), {
    hello: ["b"],
    close: ["gone"],
  });
});

Deno.test("parseSignalData() accepts the three conventions and refuses others", () => {
  assert.deepEqual(parseSignalData({ hello: true }), { hello: true });
  assert.deepEqual(parseSignalData({ candidate: null }), { candidate: null });
  assert.deepEqual(
    parseSignalData({ description: { type: "offer", sdp: "v=0" } }),
    { description: { type: "offer", sdp: "v=0" } },
  );
  assert.equal(parseSignalData({ description: { type: "bogus" } }), undefined);
  assert.equal(parseSignalData({ candidate: 3 }), undefined);
  assert.equal(parseSignalData(null), undefined);
  assert.equal(parseSignalData("x"), undefined);
});

Deno.test("turnFailureNote() explains a refused credential, a refusal and an unreachable relay", () => {
  assert.match(
    turnFailureNote([701, 401]),
    /refused this server's credentials/,
  );
  assert.match(turnFailureNote([403]), /refused to relay/);
  assert.match(turnFailureNote([701]), /could not be reached/);
  assert.match(turnFailureNote([]), /not even through the TURN relay/);
});

Deno.test("hasTurnServer() finds turn: and turns: URLs only", () => {
  assert.equal(hasTurnServer([{ urls: "stun:x:3478" }]), false);
  assert.equal(hasTurnServer([{ urls: ["stun:x", "turn:x:3478"] }]), true);
  assert.equal(hasTurnServer([{ urls: "turns:x:5349" }]), true);
  assert.equal(hasTurnServer([]), false);
});

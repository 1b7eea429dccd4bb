import assert from "node:assert/strict";
import { decodeFrames, encodeFrames, type PeerFrame } from "./redis_store.ts";

const FRAMES: PeerFrame[] = [
  {
    peerId: "p1",
    text: '{"type":"signal","data":{"a":"x|y"},"from":"p0"}',
    hops: 0,
  },
  { peerId: "p2", text: "", hops: 1 },
  { peerId: "p1", text: "émoji 🎙️ and |pipes|", hops: 2 },
];

Deno.test("encodeFrames() keeps one frame in the single-frame form", () => {
  assert.equal(encodeFrames([FRAMES[0]]), `m|0|p1|${FRAMES[0].text}`);
  assert.deepEqual(decodeFrames(encodeFrames([FRAMES[0]])), [FRAMES[0]]);
});

Deno.test("decodeFrames() gives back a batch in order, pipes and non-ASCII included", () => {
  const message = encodeFrames(FRAMES);
  assert.ok(message.startsWith("b|"));
  assert.deepEqual(decodeFrames(message), FRAMES);
  // Through UTF-8 and back, as Redis carries it.
  const wire = new TextDecoder().decode(new TextEncoder().encode(message));
  assert.deepEqual(decodeFrames(wire), FRAMES);
});

Deno.test("decodeFrames() drops malformed messages whole", () => {
  const good = encodeFrames(FRAMES);
  for (
    const bad of [
      "",
      "x|1|p|t",
      "m|1",
      "b|0|p1|99|short",
      "b|0|p1|-1|",
      "b|0|p1",
      good.slice(0, -1),
    ]
  ) {
    assert.deepEqual(decodeFrames(bad), [], JSON.stringify(bad));
  }
  assert.deepEqual(decodeFrames("p|123"), []);
});

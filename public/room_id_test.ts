import assert from "node:assert/strict";
import {
  createRoomId,
  isValidRoom,
  roomFromPath,
  roomLink,
} from "./room_id.ts";

Deno.test("createRoomId() returns 22 base64url characters of 128 bits", () => {
  const id = createRoomId();
  assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  assert.notEqual(id, createRoomId());
  assert.equal(isValidRoom(id), true);
});

Deno.test("createRoomId() maps 0xff bytes to '_' without padding", () => {
  assert.equal(createRoomId((b) => b.fill(0xff)), "_".repeat(21) + "w");
});

Deno.test("roomFromPath() reads /r/<room> and ignores other paths", () => {
  assert.equal(roomFromPath("/r/k3x9-standup"), "k3x9-standup");
  assert.equal(roomFromPath("/r/abc/"), "abc");
  assert.equal(roomFromPath("/"), "");
  assert.equal(roomFromPath("/r/bad room"), "");
  assert.equal(roomFromPath("/r/" + "a".repeat(65)), "");
});

Deno.test("isValidRoom() refuses empty, long and odd characters", () => {
  assert.equal(isValidRoom(""), false);
  assert.equal(isValidRoom("a".repeat(64)), true);
  assert.equal(isValidRoom("a".repeat(65)), false);
  assert.equal(isValidRoom("a/b"), false);
});

Deno.test("roomLink() builds the shareable /r/ URL", () => {
  assert.equal(roomLink("http://x.test", "abc"), "http://x.test/r/abc");
});

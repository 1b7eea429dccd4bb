import assert from "node:assert/strict";
import { rmsLevel } from "./media.ts";

Deno.test("rmsLevel() is 0 for silence and 1 for a full-scale square wave", () => {
  assert.equal(rmsLevel(new Float32Array(64)), 0);
  assert.equal(rmsLevel(new Float32Array(64).fill(1)), 1);
});

Deno.test("rmsLevel() maps -30 dBFS to the middle of the meter", () => {
  const level = rmsLevel(new Float32Array(64).fill(10 ** (-30 / 20)));
  assert.ok(Math.abs(level - 0.5) < 1e-6);
});

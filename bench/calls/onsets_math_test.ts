import assert from "node:assert/strict";
import { mouthToEar } from "./onsets_math.ts";

Deno.test("mouthToEar() pairs each heard click with the latest sent before it", () => {
  const mouth = [1000, 1500, 2000, 2500];
  const ear = [1070, 1575, 2068, 2580];
  assert.deepEqual(mouthToEar(mouth, ear), [70, 75, 68, 80]);
});

Deno.test("mouthToEar() skips clicks heard before any was sent or too late", () => {
  assert.deepEqual(mouthToEar([1000], [900, 1100]), [100]);
  assert.deepEqual(mouthToEar([1000], [1600]), []);
  assert.deepEqual(mouthToEar([], [1000]), []);
});

Deno.test("mouthToEar() accepts unsorted stamps", () => {
  assert.deepEqual(mouthToEar([2000, 1000], [2090, 1090]), [90, 90]);
});

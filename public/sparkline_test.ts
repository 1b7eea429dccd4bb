import assert from "node:assert/strict";
import { sparkPoints } from "./sparkline.tsx";

Deno.test("sparkPoints() draws the newest sample at the right edge", () => {
  const [line] = sparkPoints([0, 10], 10);
  assert.equal(line, "58,19.0 59,1.0");
});

Deno.test("sparkPoints() breaks the line where a sample is missing", () => {
  const lines = sparkPoints([1, undefined, 2, 3], 10);
  assert.equal(lines.length, 2);
});

Deno.test("sparkPoints() keeps small values low against the floor", () => {
  const [line] = sparkPoints([1, 1], 100);
  for (const point of line.split(" ")) {
    assert.ok(Number(point.split(",")[1]) > 18);
  }
});

Deno.test("sparkPoints() keeps only the last minute", () => {
  const [line] = sparkPoints(Array.from({ length: 90 }, (_, i) => i), 1);
  assert.equal(line.split(" ").length, 60);
  assert.ok(line.startsWith("0,"));
});

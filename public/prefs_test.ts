import assert from "node:assert/strict";
import { DEFAULT_PREFS, parsePrefs } from "./prefs.ts";

Deno.test("parsePrefs() returns the defaults when nothing is stored", () => {
  assert.deepEqual(parsePrefs(null), DEFAULT_PREFS);
  assert.deepEqual(parsePrefs("not json"), DEFAULT_PREFS);
  assert.deepEqual(parsePrefs("[1]"), DEFAULT_PREFS);
});

Deno.test("parsePrefs() keeps well-typed fields and drops the rest", () => {
  const prefs = parsePrefs(
    JSON.stringify({
      name: "Ada",
      echoCancellation: false,
      privateMode: "yes",
      extra: 1,
    }),
  );
  assert.equal(prefs.name, "Ada");
  assert.equal(prefs.echoCancellation, false);
  assert.equal(prefs.privateMode, false);
  assert.equal("extra" in prefs, false);
});

Deno.test("parsePrefs() keeps the noise filter off unless it was switched on", () => {
  assert.equal(DEFAULT_PREFS.noiseFilter, false);
  assert.equal(
    parsePrefs(JSON.stringify({ noiseFilter: true })).noiseFilter,
    true,
  );
  assert.equal(
    parsePrefs(JSON.stringify({ noiseFilter: "on" })).noiseFilter,
    false,
  );
});

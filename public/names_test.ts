import assert from "node:assert/strict";
import { defaultName, displayName, initials } from "./names.ts";

Deno.test("defaultName() is the same for the same peer ID everywhere", () => {
  assert.equal(defaultName("p7QmX2"), defaultName("p7QmX2"));
  assert.match(defaultName("p7QmX2"), /^[A-Z][a-z]+ [A-Z][a-z]+$/);
});

Deno.test("defaultName() tells apart most peers of a full room", () => {
  // 100 rooms of 8 random IDs: clashes must be rare (1024 combinations).
  let clashes = 0;
  for (let room = 0; room < 100; room++) {
    const names = new Set<string>();
    for (let i = 0; i < 8; i++) {
      names.add(defaultName(crypto.randomUUID()));
    }
    clashes += 8 - names.size;
  }
  assert.ok(clashes < 25, `${clashes} clashes in 800 names`);
});

Deno.test("displayName() prefers the typed name and trims it", () => {
  assert.equal(displayName("  Ada ", "x"), "Ada");
  assert.equal(displayName("   ", "p7QmX2"), defaultName("p7QmX2"));
  assert.equal(displayName("", ""), "Guest");
});

Deno.test("initials() takes the first letters of two words", () => {
  assert.equal(initials("Grace Hopper"), "GH");
  assert.equal(initials("ada"), "A");
  assert.equal(initials("Calm Otter Jr"), "CO");
  assert.equal(initials("élan vital"), "ÉV");
  assert.equal(initials("  "), "?");
});

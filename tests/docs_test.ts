/**
 * The documents that users and client authors read must name what the code
 * does: every configuration variable in the README, every error and close
 * code in the protocol document.
 */
import assert from "node:assert/strict";
import { flagName, OPTIONS } from "../signaling/config.ts";
import { CLOSE, ERROR_CODES } from "../signaling/protocol.ts";

const read = (path: string) =>
  Deno.readTextFile(new URL(`../${path}`, import.meta.url));

Deno.test("README lists every configuration variable with its flag and default", async () => {
  const readme = await read("README.md");
  for (const spec of OPTIONS) {
    const row = readme.split("\n").find((line) =>
      line.startsWith(`| \`${spec.env}\``)
    );
    assert.ok(row, `README has no row for ${spec.env}`);
    assert.ok(row.includes(`\`${flagName(spec)}\``), `${spec.env}: flag`);
    if (spec.default !== "") {
      assert.ok(row.includes(`\`${spec.default}\``), `${spec.env}: default`);
    }
  }
});

/** The rows of the Markdown table under `heading`, as trimmed cells. */
function tableUnder(doc: string, heading: string): string[][] {
  const lines = doc.split("\n");
  const start = lines.findIndex((line) => line === heading);
  assert.ok(start >= 0, `no heading ${heading}`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith("|")) {
      inTable = true;
      rows.push(line.split("|").slice(1, -1).map((cell) => cell.trim()));
    } else if (inTable) {
      break;
    } else if (line.startsWith("#")) {
      break;
    }
  }
  // Drop the header and its rule.
  return rows.slice(2);
}

Deno.test("docs/protocol.md's error table is ERROR_CODES: the same codes, each spending the budget as documented", async () => {
  const protocol = await read("docs/protocol.md");
  const documented = Object.fromEntries(
    tableUnder(protocol, "### `error`").map(([code, , budget]) => [
      code.replaceAll("`", ""),
      budget === "yes",
    ]),
  );
  const actual = Object.fromEntries(
    Object.entries(ERROR_CODES).map(([code, { budget }]) => [code, budget]),
  );
  assert.deepEqual(actual, documented);
});

Deno.test("docs/protocol.md's close table is CLOSE: the same codes and reasons, reconnecting below 4500", async () => {
  const protocol = await read("docs/protocol.md");
  const documented = tableUnder(protocol, "## Close codes").map((
    [code, reason],
  ) => ({ code: Number(code), reason: reason.replaceAll("`", "") }));
  const actual = Object.values(CLOSE).map(({ code, reason }) => ({
    code,
    reason,
  }));
  const byCode = (a: { code: number }, b: { code: number }) => a.code - b.code;
  assert.deepEqual(actual.sort(byCode), documented.sort(byCode));
  // The client reconnects exactly on the 4000-4499 codes.
  assert.deepEqual(
    actual.filter((c) => c.code >= 4000 && c.code < 4500).map((c) => c.reason),
    ["restart", "join-timeout", "slow-consumer"],
  );
});

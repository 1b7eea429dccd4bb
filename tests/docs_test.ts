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

Deno.test("docs/protocol.md documents every error code and close code", async () => {
  const protocol = await read("docs/protocol.md");
  for (const code of Object.keys(ERROR_CODES)) {
    assert.match(protocol, new RegExp(`\\| \`${code}\`\\s+\\|`), code);
  }
  for (const { code, reason } of Object.values(CLOSE)) {
    assert.match(
      protocol,
      new RegExp(`\\| ${code} \\| \`${reason}\`\\s+\\|`),
      `close ${code}`,
    );
  }
});

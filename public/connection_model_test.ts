import assert from "node:assert/strict";
import { ConnectionModel } from "./connection_model.ts";

Deno.test("ConnectionModel lists each knock once, in order, until it ends", () => {
  const connection = new ConnectionModel();
  connection.addKnock({ knockId: "a", name: "Ada" });
  connection.addKnock({ knockId: "b", name: "" });
  // The server shows a waiting knock again to a new host.
  connection.addKnock({ knockId: "a", name: "Ada" });
  assert.deepEqual(connection.knocks.value.map((k) => k.knockId), ["a", "b"]);
  connection.endKnock("a");
  connection.endKnock("unknown");
  assert.deepEqual(connection.knocks.value.map((k) => k.knockId), ["b"]);
});

Deno.test("ConnectionModel says who hosts, and forgets the controls when the call ends", () => {
  const connection = new ConnectionModel();
  connection.selfId.value = "me";
  connection.host.value = "other";
  assert.equal(connection.isHost.value, false);
  connection.host.value = "me";
  connection.locked.value = true;
  assert.equal(connection.isHost.value, true);
  connection.knocking.value = true;
  connection.status.value = "open";
  assert.equal(connection.statusText.value, "Waiting for the host…");
  connection.addKnock({ knockId: "k", name: "" });
  connection.resetControls();
  assert.equal(connection.host.value, "");
  assert.equal(connection.locked.value, false);
  assert.equal(connection.knocking.value, false);
  assert.deepEqual(connection.knocks.value, []);
  // Before we have an ID, an empty host is nobody's.
  connection.selfId.value = "";
  assert.equal(connection.isHost.value, false);
});

/**
 * Running out of file descriptors does not end the process. A flood of TCP
 * connections past `ulimit -n` (here 150 open files, with MAX_CONNECTIONS
 * above it, as a misconfigured server would have) makes `Deno.serve`'s
 * accept loop fail with EMFILE; Parley logs it, listens again on the same
 * port, and the sockets it already served, their room and its sessions carry
 * on. Before this, the process exited.
 */
import assert from "node:assert/strict";
import { spawnServer } from "./support/server.ts";
import { ControlRoom, TestClient } from "./support/ws_client.ts";
import { eventually } from "./support/wait.ts";

Deno.test("a connection flood past the open-file limit leaves the process, its rooms and its port working", async () => {
  await using server = await spawnServer({
    env: { MAX_CONNECTIONS: "10000", HANDSHAKE_RATE: "100000" },
    maxOpenFiles: 150,
  });
  const control = await ControlRoom.open(server.wsUrl);
  try {
    await control.check();
    let exited = false;
    server.status.then(() => exited = true);

    // Far more connections than the process may open files.
    const flood: Deno.TcpConn[] = [];
    for (let i = 0; i < 300; i++) {
      try {
        flood.push(
          await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
        );
      } catch {
        break; // The backlog is full: enough.
      }
    }
    await eventually(
      () => server.logs.some((l) => l.includes('"http.accept.failed"')),
      "the accept loop to fail with EMFILE",
    );
    assert.ok(
      server.logs.some((l) => l.includes("Too many open files")),
      "the log says why",
    );
    for (const conn of flood) {
      try {
        conn.close();
      } catch {
        // Closed by the server already.
      }
    }

    await eventually(
      () => server.logs.some((l) => l.includes('"listening.again"')),
      "the server to listen again",
    );
    assert.equal(exited, false, "the process is still running");
    // The room served before the flood never noticed.
    await control.check();
    // New sockets are served again on the same port.
    await using late = await TestClient.connect(server.wsUrl, {
      label: "late",
    });
    const joined = await late.join("after-flood", { name: "Late" });
    assert.equal(joined.type, "joined");
    const health = await fetch(`${server.origin}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await control.close();
  }
});

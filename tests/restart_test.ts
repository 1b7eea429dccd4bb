/**
 * A real restart: `main.ts` as a process on a database file, killed with
 * SIGKILL and started again on the same file. Sessions survive (the grace
 * counts from the new start), and SIGTERM tells clients to come back (4000).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { spawnServer, tempDir } from "./support/server.ts";
import { TestClient } from "./support/ws_client.ts";

const SANITIZE = { sanitizeOps: true, sanitizeResources: true };

Deno.test({
  name:
    "join with a token resumes both peers after the server process is killed and restarted",
  ...SANITIZE,
  async fn(t) {
    await using dir = await tempDir();
    const env = {
      DATABASE_URL: `file:${join(dir.path, "parley.db")}`,
      RESUME_GRACE: "30s",
    };
    let ada = { peerId: "", token: "" };
    let grace = { peerId: "", token: "" };

    await t.step("two peers join the first process", async () => {
      await using first = await spawnServer({ env });
      await using a = await TestClient.connect(first.wsUrl, { label: "ada" });
      await using g = await TestClient.connect(first.wsUrl, { label: "grace" });
      const aj = await a.join("restart-room", { name: "Ada" });
      const gj = await g.join("restart-room", { name: "Grace" });
      await a.next("peer-joined");
      a.signal(gj.peerId, { before: true });
      assert.equal((await g.next("signal")).from, aj.peerId);
      ada = { peerId: aj.peerId, token: aj.token };
      grace = { peerId: gj.peerId, token: gj.token };

      first.kill("SIGKILL");
      const status = await first.status;
      assert.equal(status.signal, "SIGKILL");
      // The sockets die with the process, without a close frame.
      assert.notEqual((await a.waitClose()).code, 4000);
      await g.waitClose();
    });

    await t.step(
      "the second process on the same file resumes both",
      async () => {
        await using second = await spawnServer({ env });
        await using a = await TestClient.connect(second.wsUrl, {
          label: "ada",
        });
        await using g = await TestClient.connect(second.wsUrl, {
          label: "grace",
        });
        const aj = await a.join("restart-room", { token: ada.token });
        assert.equal(aj.resumed, true);
        assert.equal(aj.peerId, ada.peerId);
        assert.deepEqual(aj.peers, [{ peerId: grace.peerId, name: "Grace" }]);
        const gj = await g.join("restart-room", { token: grace.token });
        assert.equal(gj.resumed, true);
        assert.equal(gj.peerId, grace.peerId);
        assert.deepEqual(gj.peers, [{ peerId: ada.peerId, name: "Ada" }]);

        // A resume is no news to the others.
        await a.expectNothingElse();

        a.signal(grace.peerId, { description: { type: "offer", sdp: "v=0" } });
        const offer = await g.next("signal");
        assert.equal(offer.from, ada.peerId);
        g.signal(ada.peerId, { description: { type: "answer", sdp: "v=0" } });
        assert.equal((await a.next("signal")).from, grace.peerId);

        // New peers still join the same room next to the resumed ones.
        await using c = await TestClient.connect(second.wsUrl, { label: "c" });
        const cj = await c.join("restart-room");
        assert.deepEqual(
          cj.peers.map((p) => p.peerId).sort(),
          [ada.peerId, grace.peerId].sort(),
        );
        assert.equal((await a.next("peer-joined")).peerId, cj.peerId);
        assert.equal((await g.next("peer-joined")).peerId, cj.peerId);
      },
    );
  },
});

Deno.test({
  name: "SIGTERM closes every socket with 4000 restart and the process exits 0",
  ...SANITIZE,
  async fn() {
    await using server = await spawnServer();
    await using a = await TestClient.connect(server.wsUrl, { label: "a" });
    await using b = await TestClient.connect(server.wsUrl, { label: "b" });
    await using idle = await TestClient.connect(server.wsUrl, {
      label: "idle",
    });
    await a.join("term");
    await b.join("term");
    await a.next("peer-joined");
    server.kill("SIGTERM");
    for (const client of [a, b, idle]) {
      assert.deepEqual(await client.waitClose(), {
        code: 4000,
        reason: "restart",
      }, client.label);
    }
    const status = await server.status;
    assert.equal(status.code, 0);
  },
});

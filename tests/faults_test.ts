/**
 * Faults and hostile input against a real server: invalid WebSocket frames,
 * huge headers, JSON built to confuse a parser, a handler that throws, a
 * process killed with SIGKILL again and again, a SIGTERM with many peers,
 * a database that is locked, full or read-only, and a fragmented message
 * that Deno buffers before the application sees it. The process must stay
 * up (or come back with every acknowledged session), and a control room
 * keeps signaling throughout.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  controlledServer,
  spawnServer,
  startTestServer,
  tempDir,
} from "./support/server.ts";
import {
  ControlRoom,
  type JoinedMsg,
  joinPeers,
  TestClient,
} from "./support/ws_client.ts";
import { handshakeHeaders } from "./support/http.ts";
import { deadline, delay, eventually } from "./support/wait.ts";
import {
  encodeFrame,
  health,
  mib,
  OPCODE,
  rawResponse,
  RawWebSocket,
  rssOf,
} from "./support/hardening.ts";

const SANITIZE = { sanitizeOps: true, sanitizeResources: true };

/** Frames RFC 6455 says a server must fail the connection on. */
const INVALID_FRAMES: [what: string, frame: () => Uint8Array][] = [
  [
    "reserved bits set",
    () => encodeFrame(OPCODE.text, enc('{"type":"ping"}'), { rsv: 4 }),
  ],
  ["an unknown opcode (0x3)", () => encodeFrame(0x3, enc("{}"))],
  ["an unknown control opcode (0xB)", () => encodeFrame(0xb, enc(""))],
  [
    "invalid UTF-8 in a text frame",
    () => encodeFrame(OPCODE.text, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
  ],
  [
    "a fragmented ping",
    () => encodeFrame(OPCODE.ping, enc("x"), { fin: false }),
  ],
  [
    "a ping over 125 bytes",
    () => encodeFrame(OPCODE.ping, new Uint8Array(200)),
  ],
  [
    "a continuation with no message started",
    () => encodeFrame(OPCODE.continuation, enc("{}")),
  ],
];

function enc(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

Deno.test({
  name: "an invalid frame ends that connection only; its peer becomes away",
  ...SANITIZE,
  async fn(t) {
    await using fixture = await controlledServer({
      env: { RESUME_GRACE: "500ms", SWEEP_INTERVAL: "100ms" },
    });
    const { server, control } = fixture;
    for (const [what, frame] of INVALID_FRAMES) {
      await t.step(what, async () => {
        const room = `frames-${what.replace(/[^a-z0-9]+/gi, "-")}`;
        using raw = await RawWebSocket.open(server.port);
        await raw.send({ type: "join", room });
        const joined = await raw.next();
        assert.equal(joined.type, "joined");
        await using peer = await TestClient.connect(server.wsUrl);
        await peer.join(room);
        assert.equal((await raw.next()).type, "peer-joined");
        await raw.write(frame());
        const end = await raw.waitEnd();
        console.log(`${what}: connection ended, close code ${end.code}`);
        // Away first: the peer hears nothing until the grace runs out.
        await peer.expectNothingElse();
        await control.check();
        assert.deepEqual(await peer.next("peer-left", 5000), {
          type: "peer-left",
          peerId: joined.peerId,
        });
        await control.check();
      });
    }
  },
});

Deno.test({
  name:
    "an unmasked client frame is accepted by Deno 2.9.6 (RFC 6455 5.1 says fail the connection): it is handled as a message and harms nothing",
  ...SANITIZE,
  async fn() {
    await using fixture = await controlledServer();
    const { server, control } = fixture;
    using raw = await RawWebSocket.open(server.port);
    await raw.sendFrame(OPCODE.text, '{"type":"ping","ref":"unmasked"}', {
      mask: false,
    });
    // The runtime passes the frame on: the gap is in Deno, below anything
    // the server sees. It gives a client nothing a masked frame would not.
    assert.deepEqual(await raw.next(), { type: "pong", ref: "unmasked" });
    await raw.send({ type: "join", room: "unmasked" });
    assert.equal((await raw.next()).type, "joined");
    await control.check();
  },
});

Deno.test({
  name: "huge request headers get a 4xx or a closed connection, not a crash",
  ...SANITIZE,
  async fn(t) {
    await using fixture = await controlledServer();
    const { server, control } = fixture;
    for (const size of [64 * 1024, 1024 * 1024]) {
      await t.step(`${size / 1024} KiB of one header`, async () => {
        let status: number | undefined | "reset";
        try {
          status = (await rawResponse(server.port, {
            headers: handshakeHeaders({ "X-Big": "a".repeat(size) }),
          }))?.status;
        } catch (error) {
          // The server may stop reading and reset while we still write.
          assert.ok(
            error instanceof Deno.errors.ConnectionReset ||
              error instanceof Deno.errors.BrokenPipe,
            String(error),
          );
          status = "reset";
        }
        console.log(`${size} bytes of header: ${status ?? "closed"}`);
        assert.ok(
          status === undefined || status === "reset" ||
            (status >= 400 && status < 500),
          `status ${status}`,
        );
        assert.equal((await health(server.origin)).status, 200);
        await control.check();
      });
    }
    await t.step("many headers", async () => {
      const headers = handshakeHeaders();
      for (let i = 0; i < 2000; i++) headers[`X-H${i}`] = "v";
      const status = (await rawResponse(server.port, { headers }))?.status;
      console.log(`2000 headers: ${status ?? "closed"}`);
      assert.ok(status === undefined || (status >= 400 && status < 500));
      assert.equal((await health(server.origin)).status, 200);
      await control.check();
    });
  },
});

Deno.test({
  name: "JSON with __proto__ and constructor keys or deep nesting is handled",
  ...SANITIZE,
  async fn(t) {
    await using fixture = await controlledServer();
    const { server, control } = fixture;

    await t.step(
      "__proto__ and constructor in join are plain keys",
      async () => {
        await using client = await TestClient.connect(server.wsUrl);
        client.send(
          '{"type":"join","room":"proto","__proto__":{"room":"other","name":"evil","token":"x"},"constructor":{"prototype":{"polluted":true}}}',
        );
        const joined = await client.next("joined");
        assert.equal(joined.room, "proto");
        assert.equal(joined.resumed, false);
        await using other = await TestClient.connect(server.wsUrl);
        const seen = await other.join("proto");
        assert.deepEqual(seen.peers, [{ peerId: joined.peerId, name: "" }]);
        await client.next("peer-joined");
        await control.check();
      },
    );

    await t.step("a type only under __proto__ is no type", async () => {
      await using client = await TestClient.connect(server.wsUrl);
      client.send('{"__proto__":{"type":"join","room":"x"}}');
      await client.nextError("bad-message");
      client.send('{"type":"__proto__"}');
      await client.nextError("unknown-type");
      client.send('{"type":"constructor"}');
      await client.nextError("unknown-type");
      client.send('{"type":"toString"}');
      await client.nextError("unknown-type");
      await control.check();
    });

    await t.step(
      "__proto__ in signal and its data is relayed as data",
      async () => {
        await using pair = await joinPeers(server.wsUrl, "proto-signal", [
          "s",
          "r",
        ]);
        const [sender, receiver] = pair.clients;
        const [idS, idR] = pair.ids;
        sender.send(
          `{"type":"signal","to":"${idR}","__proto__":{"to":"${idS}","from":"${idR}"},"data":{"__proto__":{"x":1},"constructor":{"prototype":{"y":2}}}}`,
        );
        const got = await receiver.next("signal");
        assert.equal(got.from, idS);
        assert.equal(
          JSON.stringify(got.data),
          '{"__proto__":{"x":1},"constructor":{"prototype":{"y":2}}}',
        );
        await sender.expectNothingElse();
        await control.check();
      },
    );

    await t.step("nothing reached Object.prototype", () => {
      const probe: Record<string, unknown> = {};
      for (
        const key of [
          "polluted",
          "room",
          "name",
          "token",
          "to",
          "from",
          "x",
          "y",
        ]
      ) {
        assert.equal(probe[key], undefined, key);
      }
    });

    await t.step(
      "10,000 nested arrays as a message get bad-message",
      async () => {
        await using client = await TestClient.connect(server.wsUrl);
        const deep = "[".repeat(10_000) + "]".repeat(10_000);
        client.send(deep);
        await client.nextError("bad-message");
        const deeper = '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000);
        assert.ok(deeper.length < 65536);
        client.send(deeper);
        await client.nextError("bad-message");
        await client.expectNothingElse();
        await control.check();
      },
    );

    await t.step(
      "deeply nested signal data is relayed or refused cleanly",
      async () => {
        await using pair = await joinPeers(server.wsUrl, "deep", ["s", "r"]);
        const [sender, receiver] = pair.clients;
        const data = "[".repeat(10_000) + "1" + "]".repeat(10_000);
        // As sent (relayed verbatim) and with an extra key (re-serialised).
        sender.send(`{"type":"signal","to":"${pair.ids[1]}","data":${data}}`);
        sender.send(
          `{"type":"signal","to":"${pair.ids[1]}","x":1,"data":${data}}`,
        );
        for (let i = 0; i < 2; i++) {
          const got = await receiver.next("signal");
          assert.equal(got.from, pair.ids[0]);
        }
        await sender.expectNothingElse();
        await control.check();
      },
    );
  },
});

Deno.test({
  name:
    "an exception in a message handler answers internal and nothing else breaks",
  ...SANITIZE,
  async fn() {
    await using server = await startTestServer({
      inspect: (msg) => {
        if (msg.ref === "boom") throw new Error("boom from the inspect hook");
      },
    });
    await using control = await ControlRoom.open(server.wsUrl);
    await control.check();
    await using pair = await joinPeers(server.wsUrl, "faulty", ["s", "r"]);
    const [sender, receiver] = pair.clients;
    // More faults than the error budget: internal spends none of it.
    for (let i = 0; i < 20; i++) {
      sender.send({
        type: "signal",
        to: pair.ids[1],
        data: { i },
        ref: "boom",
      });
      assert.equal((await sender.nextError("internal")).ref, "boom");
    }
    sender.send({ type: "ping", ref: "boom" });
    await sender.nextError("internal");
    await receiver.expectNothingElse();
    // The same socket and room carry on.
    sender.signal(pair.ids[1], { after: true });
    assert.deepEqual((await receiver.next("signal")).data, { after: true });
    await using late = await TestClient.connect(server.wsUrl);
    late.send({ type: "join", room: "faulty", ref: "boom" });
    await late.nextError("internal");
    await late.join("faulty");
    await control.check();
  },
});

Deno.test({
  name:
    "SIGKILL mid-session, three times over: every acknowledged session resumes",
  ...SANITIZE,
  async fn(t) {
    await using dir = await tempDir();
    const env = {
      DATABASE_URL: `file:${join(dir.path, "parley.db")}`,
      RESUME_GRACE: "60s",
    };
    /** Sessions whose `joined` arrived before a kill. */
    const acknowledged: { room: string; joined: JoinedMsg }[] = [];

    async function resumeAll(wsUrl: string): Promise<TestClient[]> {
      const clients: TestClient[] = [];
      try {
        for (const { room, joined } of acknowledged) {
          const client = await TestClient.connect(wsUrl);
          clients.push(client);
          const again = await client.join(room, { token: joined.token });
          assert.equal(again.resumed, true);
          assert.equal(again.peerId, joined.peerId);
          const members = acknowledged
            .filter((a) => a.room === room && a.joined !== joined)
            .map((a) => a.joined.peerId).sort();
          assert.deepEqual(again.peers.map((p) => p.peerId).sort(), members);
        }
      } catch (error) {
        await Promise.all(clients.map((c) => c.close()));
        throw error;
      }
      return clients;
    }

    for (let trial = 0; trial < 3; trial++) {
      await t.step(`trial ${trial + 1}`, async () => {
        const server = await spawnServer({ env });
        const clients: TestClient[] = [];
        try {
          clients.push(...await resumeAll(server.wsUrl));
          const room = `kill-${trial}`;
          const pair = await joinPeers(server.wsUrl, room, ["a", "b"]);
          clients.push(...pair.clients);
          for (const joined of pair.joined) acknowledged.push({ room, joined });
          // Mid-session: signals in flight and a join not yet answered.
          for (let i = 0; i < 50; i++) {
            pair.clients[0].signal(pair.ids[1], { i });
          }
          const pending = await TestClient.connect(server.wsUrl);
          clients.push(pending);
          pending.send({ type: "join", room });
          server.kill("SIGKILL");
          assert.equal((await server.status).signal, "SIGKILL");
          for (const client of clients) await client.waitClose();
        } finally {
          await server.close();
          await Promise.all(clients.map((c) => c.close()));
        }
      });
    }

    await t.step("a last start resumes all six", async () => {
      await using server = await spawnServer({ env });
      const clients = await resumeAll(server.wsUrl);
      try {
        assert.equal(clients.length, 6);
        // Resumed peers signal each other as before.
        clients[0].signal(acknowledged[1].joined.peerId, { back: true });
        const got = await clients[1].next("signal");
        assert.equal(got.from, acknowledged[0].joined.peerId);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });
  },
});

Deno.test({
  name:
    "SIGTERM with 100 peers in 50 rooms: 4000 to all, exit, resume on restart",
  ...SANITIZE,
  async fn(t) {
    await using dir = await tempDir();
    const env = {
      DATABASE_URL: `file:${join(dir.path, "parley.db")}`,
      RESUME_GRACE: "60s",
    };
    const sessions: { room: string; joined: JoinedMsg }[] = [];

    await t.step(
      "SIGTERM closes every socket with 4000 and exits",
      async () => {
        await using server = await spawnServer({ env });
        const clients: TestClient[] = [];
        try {
          for (let batch = 0; batch < 10; batch++) {
            await Promise.all(
              Array.from({ length: 5 }, async (_, i) => {
                const room = `term-${batch * 5 + i}`;
                const pair = await joinPeers(server.wsUrl, room, ["a", "b"]);
                clients.push(...pair.clients);
                for (const joined of pair.joined) {
                  sessions.push({ room, joined });
                }
              }),
            );
          }
          assert.equal(clients.length, 100);
          server.kill("SIGTERM");
          const closes = await Promise.all(clients.map((c) => c.waitClose()));
          for (const info of closes) {
            assert.deepEqual(info, { code: 4000, reason: "restart" });
          }
          // New sockets are refused while it drains, or find nobody.
          let refused: number | string;
          try {
            refused = (await rawResponse(server.port))?.status ?? "closed";
          } catch (error) {
            assert.ok(
              error instanceof Deno.errors.ConnectionRefused,
              String(error),
            );
            refused = "connection refused";
          }
          console.log(`handshake after SIGTERM: ${refused}`);
          assert.ok(
            refused === 503 || typeof refused === "string",
            `${refused}`,
          );
          const status = await deadline(
            server.status,
            "exit after SIGTERM",
            10_000,
          );
          assert.equal(status.code, 0);
        } finally {
          await Promise.all(clients.map((c) => c.close()));
        }
      },
    );

    await t.step("all 100 resume on the restarted process", async () => {
      await using server = await spawnServer({ env });
      const clients: TestClient[] = [];
      try {
        for (let i = 0; i < sessions.length; i += 20) {
          await Promise.all(
            sessions.slice(i, i + 20).map(async ({ room, joined }) => {
              const client = await TestClient.connect(server.wsUrl);
              clients.push(client);
              const again = await client.join(room, { token: joined.token });
              assert.equal(again.resumed, true);
              assert.equal(again.peerId, joined.peerId);
              assert.equal(again.peers.length, 1);
            }),
          );
        }
        assert.equal(clients.length, 100);
        const h = await health(server.origin);
        assert.equal(h.body.connections, 100);
        assert.equal(h.body.rooms, 50);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });
  },
});

Deno.test({
  name:
    "a database locked by another process: joins get unavailable, signaling goes on, recovery without restart",
  ...SANITIZE,
  async fn() {
    await using dir = await tempDir();
    const path = join(dir.path, "parley.db");
    await using server = await spawnServer({
      env: { DATABASE_URL: `file:${path}` },
    });
    await using control = await ControlRoom.open(server.wsUrl);
    await control.check();
    await using pair = await joinPeers(server.wsUrl, "locked", ["a", "b"]);
    await using newcomer = await TestClient.connect(server.wsUrl);

    const db = new DatabaseSync(path);
    try {
      db.exec("PRAGMA busy_timeout = 1000");
      db.exec("BEGIN EXCLUSIVE");
      db.exec("INSERT INTO meta (key, value) VALUES ('held-by', 'test')");
      newcomer.send({ type: "join", room: "locked", ref: "while-locked" });
      assert.equal(
        (await newcomer.nextError("unavailable")).ref,
        "while-locked",
      );
      // Peers already in rooms keep signaling: the relay never writes.
      pair.clients[0].signal(pair.ids[1], { during: "lock" });
      assert.deepEqual((await pair.clients[1].next("signal")).data, {
        during: "lock",
      });
      await control.check();
      const h = await health(server.origin);
      assert.equal(h.status, 503);
      assert.equal(h.body.db, "error");
    } finally {
      if (db.isTransaction) db.exec("ROLLBACK");
      db.close();
    }
    const joined = await newcomer.join("locked");
    assert.equal(joined.peers.length, 2);
    assert.equal((await health(server.origin)).status, 200);
    await control.check();
  },
});

/** Whether this process may mount a tmpfs; under CI it must. */
async function canMount(): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  try {
    const { success } = await new Deno.Command("mount", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

async function run(cmd: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/** Writes into `path` until the file system is full; returns bytes written. */
async function fill(path: string): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(16 * 1024);
  let written = 0;
  try {
    while (true) {
      written += await file.write(chunk);
    }
  } catch (error) {
    if (!String(error).includes("No space left")) throw error;
  } finally {
    try {
      file.close();
    } catch {
      // Closing a full file may report the same error again.
    }
  }
  return written;
}

const mountable = await canMount();
const inCi = Deno.env.get("CI") === "true";

interface DiskContext {
  dir: string;
  origin: string;
  wsUrl: string;
  /** Proves that peers in rooms and the control room still signal. */
  signals: () => Promise<void>;
}

/**
 * Runs `scenario` against a spawned server whose database lives on a file
 * system that `mountIt` mounts at a fresh directory; unmounts afterwards.
 */
async function onMountedDisk(
  mountIt: (dir: string, scratch: string) => Promise<void>,
  scenario: (ctx: DiskContext) => Promise<void>,
): Promise<void> {
  assert.ok(mountable, "CI=true: this test needs root and mount");
  await using scratch = await tempDir();
  const dir = join(scratch.path, "mnt");
  await Deno.mkdir(dir);
  await mountIt(dir, scratch.path);
  try {
    const server = await spawnServer({
      env: { DATABASE_URL: `file:${join(dir, "parley.db")}` },
    });
    try {
      await using control = await ControlRoom.open(server.wsUrl);
      await control.check();
      await using pair = await joinPeers(server.wsUrl, "disk", ["a", "b"]);
      let round = 0;
      const signals = async () => {
        pair.clients[0].signal(pair.ids[1], { round: ++round });
        assert.deepEqual((await pair.clients[1].next("signal")).data, {
          round,
        });
        await control.check();
      };
      await scenario({
        dir,
        origin: server.origin,
        wsUrl: server.wsUrl,
        signals,
      });
      await signals();
    } finally {
      await server.close();
    }
  } finally {
    await run("umount", dir).catch(() => run("umount", "-l", dir));
  }
}

/** A join on a fresh socket that must succeed once /health is 200 again. */
async function joinsAgain(ctx: DiskContext, room: string): Promise<void> {
  await eventually(
    async () => (await health(ctx.origin)).status === 200,
    "/health to recover",
  );
  await using after = await TestClient.connect(ctx.wsUrl);
  await after.join(room);
  await ctx.signals();
}

Deno.test({
  name:
    "a full disk: joins get unavailable, signaling goes on, recovery without restart",
  ignore: !mountable && !inCi,
  ...SANITIZE,
  async fn() {
    await onMountedDisk(
      (dir) => run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir),
      async (ctx) => {
        const filler = join(ctx.dir, "filler");
        const bytes = await fill(filler);
        await using client = await TestClient.connect(ctx.wsUrl);
        client.send({ type: "join", room: "full", ref: "full" });
        assert.equal((await client.nextError("unavailable")).ref, "full");
        const h = await health(ctx.origin);
        console.log(
          `disk full after ${bytes} bytes of filler: join unavailable, /health ${h.status} db ${h.body.db}`,
        );
        assert.equal(h.status, 503);
        assert.equal(h.body.db, "error");
        await ctx.signals();
        await Deno.remove(filler);
        await joinsAgain(ctx, "after-full");
      },
    );
  },
});

Deno.test({
  name:
    "a file system that refuses writes: joins get unavailable, signaling goes on, recovery without restart",
  ignore: !mountable && !inCi,
  ...SANITIZE,
  async fn() {
    // `mount -o remount,ro` is refused (EBUSY) while SQLite holds the file
    // open for writing, on tmpfs as on ext4. The immutable flag on ext4
    // refuses writes to files already open instead (EPERM).
    await onMountedDisk(
      async (dir, scratch) => {
        const image = join(scratch, "disk.img");
        await run("truncate", "-s", "8M", image);
        await run("mkfs.ext4", "-q", "-F", image);
        await run("mount", "-o", "loop", image, dir);
      },
      async (ctx) => {
        const files = ["parley.db", "parley.db-wal"].map((f) =>
          join(ctx.dir, f)
        );
        await run("chattr", "+i", ...files);
        try {
          await using client = await TestClient.connect(ctx.wsUrl);
          client.send({ type: "join", room: "read-only" });
          await client.nextError("unavailable");
          const h = await health(ctx.origin);
          assert.equal(h.status, 503);
          assert.equal(h.body.db, "error");
          await ctx.signals();
        } finally {
          await run("chattr", "-i", ...files);
        }
        await joinsAgain(ctx, "after-read-only");
      },
    );
  },
});

Deno.test({
  name:
    "a huge fragmented message is buffered by Deno; the memory watchdog then refuses new sockets",
  ...SANITIZE,
  async fn() {
    // How big an idle server with a control room is, on this machine.
    let baseline: number;
    {
      await using probe = await spawnServer();
      await using control = await ControlRoom.open(probe.wsUrl);
      await control.check();
      await delay(200);
      baseline = await rssOf(probe.pid);
    }
    const limit = baseline + 24 * 1048576;
    await using server = await spawnServer({
      env: { MAX_MEMORY: `${Math.ceil(limit / 1024)}KiB` },
    });
    await using control = await ControlRoom.open(server.wsUrl);
    await control.check();
    const before = await rssOf(server.pid);
    using raw = await RawWebSocket.open(server.port);
    const fragment = new Uint8Array(1048576).fill(0x61);
    // A text message that never ends: 1 MiB fragments, at most 64 MiB.
    await raw.sendFrame(OPCODE.text, fragment, { fin: false });
    let sent = 1;
    let peak = before;
    while (sent < 64) {
      await raw.sendFrame(OPCODE.continuation, fragment, { fin: false });
      sent++;
      if (sent % 8 === 0) {
        await delay(50);
        peak = Math.max(peak, await rssOf(server.pid));
        if (peak > limit + 8 * 1048576) break;
      }
    }
    const refusal = await eventually(
      async () => {
        peak = Math.max(peak, await rssOf(server.pid));
        const res = await rawResponse(server.port);
        return res?.status === 503 ? res : undefined;
      },
      "the memory watchdog to refuse new sockets",
    );
    console.log(
      `fragmented message: baseline ${mib(baseline)}, limit ${mib(limit)}, ` +
        `before ${mib(before)}, ${sent} MiB sent, peak ${mib(peak)}`,
    );
    assert.equal(refusal.headers.get("retry-after"), "10");
    // Sockets already open carry on; the process is up.
    await control.check();
    assert.equal((await health(server.origin)).status, 200);
    raw.close();
    // Once the buffer is freed and the watchdog looks again, sockets are
    // admitted again.
    await eventually(
      async () => (await rawResponse(server.port))?.status === 101,
      "new sockets admitted once the sender left",
    );
    console.log(`after the sender left: RSS ${mib(await rssOf(server.pid))}`);
    await control.check();
  },
});

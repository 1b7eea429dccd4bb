/**
 * A seeded fuzz of the protocol and a soak of whole sessions, against an
 * in-process server: whatever arrives, the process stays up, a control room
 * sees nothing of it, and once the sockets are gone and the sweeper has run
 * nothing is left behind (hub, store, `/health`, memory).
 *
 * `FUZZ_SEED=<n>` replays a fuzz run; `SOAK_CYCLES=<n>` runs a longer soak.
 */
import assert from "node:assert/strict";
import { controlledServer, type TestServer } from "./support/server.ts";
import { TestClient } from "./support/ws_client.ts";
import { delay, eventually } from "./support/wait.ts";
import { health, mib, seededRandom } from "./support/hardening.ts";

const SANITIZE = { sanitizeOps: true, sanitizeResources: true };

/** What must be back once the fuzz or soak sockets are gone. */
async function footprint(server: TestServer) {
  const { connections, rooms, sessions } = server.server.hub.snapshot();
  const stored = await server.store.counts();
  const h = await health(server.origin);
  return {
    hub: { connections, rooms, sessions },
    store: stored,
    health: {
      status: h.status,
      connections: h.body.connections,
      rooms: h.body.rooms,
    },
  };
}

/** Waits until the footprint equals `baseline`. */
async function backTo(
  server: TestServer,
  baseline: Awaited<ReturnType<typeof footprint>>,
  what: string,
): Promise<void> {
  let last: unknown;
  try {
    await eventually(
      async () => {
        last = await footprint(server);
        return JSON.stringify(last) === JSON.stringify(baseline);
      },
      what,
      { timeoutMs: 10_000, intervalMs: 100 },
    );
  } catch (error) {
    assert.deepEqual(last, baseline, String(error));
  }
}

/** A fuzz generator: valid templates, then mutations. */
class Fuzzer {
  readonly #random: () => number;
  readonly peerIds: string[] = [];
  readonly tokens: string[] = [];

  constructor(seed: number) {
    this.#random = seededRandom(seed);
  }

  int(n: number): number {
    return Math.floor(this.#random() * n);
  }

  chance(p: number): boolean {
    return this.#random() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A string of random code units: ASCII, controls, BMP, lone surrogates. */
  unicode(max = 40): string {
    const n = this.int(max);
    let s = "";
    for (let i = 0; i < n; i++) {
      const kind = this.int(6);
      const code = kind === 0
        ? this.int(32)
        : kind === 1
        ? 0xd800 + this.int(0x800)
        : kind === 2
        ? 0x1f600 + this.int(80)
        : kind === 3
        ? this.int(0xffff)
        : 32 + this.int(95);
      s += String.fromCodePoint(code);
    }
    return s;
  }

  value(depth = 0): unknown {
    switch (this.int(depth > 2 ? 5 : 7)) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([0, -1, 1e308, 1.5, Number.MAX_SAFE_INTEGER]);
      case 3:
        return this.unicode();
      case 4:
        return "x".repeat(this.pick([0, 64, 65, 1024, 1025, 4000]));
      case 5:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(4); i > 0; i--) {
          o[
            this.pick([
              "a",
              "sdp",
              "candidate",
              "__proto__",
              "type",
              this.unicode(5),
            ])
          ] = this.value(depth + 1);
        }
        return o;
      }
    }
  }

  room(): string {
    return this.chance(0.9)
      ? `fz${this.int(4)}`
      : this.pick(["", "a".repeat(64), "a".repeat(65), this.unicode(10)]);
  }

  peer(): string {
    return this.peerIds.length && this.chance(0.8)
      ? this.pick(this.peerIds)
      : this.pick(["", "Tm9ib2R5SG9tZS0xMjM0NTY", this.unicode(22)]);
  }

  template(): Record<string, unknown> {
    const ref = this.chance(0.3)
      ? this.pick([1, "r", this.unicode(10)])
      : undefined;
    switch (this.int(6)) {
      case 0: {
        const join: Record<string, unknown> = {
          type: "join",
          room: this.room(),
        };
        if (this.chance(0.5)) {
          join.name = this.pick(["Ada", "", this.unicode(70)]);
        }
        if (this.tokens.length && this.chance(0.3)) {
          join.token = this.pick(this.tokens);
        }
        return { ...join, ref };
      }
      case 1:
      case 2: {
        const data = this.pick<() => unknown>([
          () => ({
            description: { type: "offer", sdp: `v=0\r\n${this.unicode()}` },
          }),
          () => ({
            candidate: {
              candidate: `candidate:${this.int(1e6)} 1 udp 1 ::1 9 typ host`,
            },
          }),
          () => ({ candidate: null }),
          () => ({ hello: true }),
          () => this.value(),
        ])();
        return { type: "signal", to: this.peer(), data, ref };
      }
      case 3:
        return { type: "leave", ref };
      case 4:
        return { type: "ping", ref };
      default:
        return { type: "ice-servers", ref };
    }
  }

  /** One frame: a string (text) or bytes (binary). */
  frame(): string | Uint8Array<ArrayBuffer> {
    const roll = this.int(100);
    if (roll < 4) {
      return crypto.getRandomValues(new Uint8Array(1 + this.int(64)));
    }
    if (roll < 8) return this.unicode(200);
    if (roll < 9) return `{"type":"ping","pad":"${"x".repeat(70_000)}"}`;
    const msg = this.template();
    if (roll < 30) {
      // Drop a field.
      const keys = Object.keys(msg);
      delete msg[this.pick(keys)];
    } else if (roll < 50) {
      // Retype a field.
      msg[this.pick(Object.keys(msg))] = this.value();
    } else if (roll < 55) {
      msg[this.unicode(8)] = this.value();
    }
    let text = JSON.stringify(msg);
    if (roll >= 55 && roll < 62) {
      // Duplicate a field: the later one wins in JSON.parse.
      const key = this.pick(Object.keys(msg));
      text = `${text.slice(0, -1)},${JSON.stringify(key)}:${
        JSON.stringify(this.value())
      }}`;
    } else if (roll >= 62 && roll < 70) {
      text = text.slice(0, this.int(text.length));
    }
    return text;
  }

  /** Remembers peer IDs and tokens the server handed out. */
  learn(frame: string): void {
    try {
      const msg = JSON.parse(frame);
      if (typeof msg.peerId === "string") this.peerIds.push(msg.peerId);
      if (typeof msg.token === "string") this.tokens.push(msg.token);
    } catch {
      // Only the server's JSON is learnt from.
    }
  }
}

Deno.test({
  name:
    "a seeded stream of random and mutated messages leaves the server as it was",
  ...SANITIZE,
  async fn() {
    const seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 1_000_000);
    console.log(`FUZZ_SEED=${seed}`);
    await using fixture = await controlledServer({
      env: {
        RESUME_GRACE: "200ms",
        ROOM_TTL: "200ms",
        SWEEP_INTERVAL: "100ms",
      },
    });
    const { server, control } = fixture;
    const baseline = await footprint(server);
    const fuzz = new Fuzzer(seed);
    const sockets: (TestClient | undefined)[] = Array(20).fill(undefined);
    const seen = new Map<TestClient, number>();
    const closes = new Map<number, number>();
    let opened = 0;
    const TOTAL = 3000;
    try {
      for (let sent = 0; sent < TOTAL; sent++) {
        const slot = fuzz.int(sockets.length);
        let client = sockets[slot];
        if (!client || client.isClosed) {
          if (client) {
            const code = (await client.closed).code;
            closes.set(code, (closes.get(code) ?? 0) + 1);
          }
          client = await TestClient.connect(server.wsUrl, {
            label: `fuzz-${slot}`,
          });
          sockets[slot] = client;
          seen.set(client, 0);
          opened++;
        }
        const frame = fuzz.frame();
        if (typeof frame === "string") client.send(frame);
        else client.sendBinary(frame);
        if (sent % 100 === 99) {
          // Let the server answer, learn the IDs it handed out, and prove
          // the control room is untouched mid-stream.
          await delay(5);
          for (const c of sockets) {
            if (!c) continue;
            const from = seen.get(c) ?? 0;
            for (const text of c.received.slice(from)) fuzz.learn(text);
            seen.set(c, c.received.length);
          }
          if (sent % 500 === 499) await control.check();
        }
      }
      await control.check();
      console.log(
        `fuzz: ${TOTAL} frames over ${opened} sockets; closes by code ${
          JSON.stringify(Object.fromEntries(closes))
        }; ${fuzz.peerIds.length} peer IDs seen`,
      );
    } finally {
      await Promise.all(sockets.map((c) => c?.close()));
    }
    await backTo(
      server,
      baseline,
      "hub, store and /health back to the control room's",
    );
    assert.equal((await health(server.origin)).status, 200);
    await control.check();
  },
});

Deno.test({
  name: "a soak of connect, join, signal, leave cycles leaves nothing behind",
  ...SANITIZE,
  async fn() {
    const cycles = Number(Deno.env.get("SOAK_CYCLES") ?? 3000);
    const workers = 20;
    const budgetMs = Number(Deno.env.get("SOAK_BUDGET_MS") ?? 25_000);
    await using fixture = await controlledServer({
      env: { RESUME_GRACE: "1s", ROOM_TTL: "1s", SWEEP_INTERVAL: "100ms" },
    });
    const { server, control } = fixture;
    // One peer stays in each worker's room and sees every cycle.
    const anchors: TestClient[] = [];
    const anchorIds: string[] = [];
    try {
      for (let w = 0; w < workers; w++) {
        const anchor = await TestClient.connect(server.wsUrl, {
          label: `anchor-${w}`,
        });
        anchors.push(anchor);
        anchorIds.push((await anchor.join(`soak-${w}`)).peerId);
      }
      let done = 0;
      const start = Date.now();
      const cycle = async (w: number, n: number) => {
        const client = await TestClient.connect(server.wsUrl, {
          label: `soak-${w}-${n}`,
        });
        try {
          const joined = await client.join(`soak-${w}`, { name: `n${n}` });
          assert.deepEqual(joined.peers.map((p) => p.peerId), [anchorIds[w]]);
          client.signal(anchorIds[w], { n });
          const anchor = anchors[w];
          assert.equal(
            (await anchor.next("peer-joined")).peerId,
            joined.peerId,
          );
          const got = await anchor.next("signal");
          assert.equal(got.from, joined.peerId);
          client.send({ type: "leave" });
          assert.equal((await anchor.next("peer-left")).peerId, joined.peerId);
        } finally {
          await client.close();
        }
        done++;
      };
      // Warm up (JIT, allocator), then take the baseline.
      await Promise.all(anchors.map((_, w) => cycle(w, -1)));
      const baseline = await footprint(server);
      const rssBefore = Deno.memoryUsage().rss;
      done = 0;
      let next = 0;
      await Promise.all(anchors.map(async (_, w) => {
        while (next < cycles && Date.now() - start < budgetMs) {
          await cycle(w, next++);
        }
      }));
      const seconds = (Date.now() - start) / 1000;
      await control.check();
      await backTo(server, baseline, "hub, store and /health back to baseline");
      for (const anchor of anchors) await anchor.expectNothingElse();
      const rssAfter = Deno.memoryUsage().rss;
      console.log(
        `soak: ${done} cycles in ${
          seconds.toFixed(1)
        } s with ${workers} workers; ` +
          `RSS ${mib(rssBefore)} -> ${mib(rssAfter)}`,
      );
      assert.ok(done >= Math.min(cycles, 1000), `only ${done} cycles ran`);
      assert.ok(
        rssAfter < rssBefore * 1.5 + 50 * 1048576,
        `RSS grew from ${mib(rssBefore)} to ${mib(rssAfter)}`,
      );
    } finally {
      await Promise.all(anchors.map((a) => a.close()));
    }
  },
});

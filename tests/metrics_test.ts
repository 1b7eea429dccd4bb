/**
 * `/metrics` through a real Prometheus text-format parser, after real
 * traffic: the numbers must say what happened.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { startTestServer } from "./support/server.ts";
import { joinPeers, TestClient } from "./support/ws_client.ts";

const SANITIZE = { sanitizeOps: true, sanitizeResources: true };

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  type: string;
  metrics: Sample[];
}

async function scrape(origin: string, token?: string): Promise<Family[]> {
  const res = await fetch(`${origin}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  return parsePrometheusTextFormat(await res.text()) as Family[];
}

function family(families: Family[], name: string): Family {
  const found = families.find((f) => f.name === name);
  assert.ok(found, `no metric ${name}`);
  return found;
}

function value(families: Family[], name: string, label?: [string, string]) {
  const samples = family(families, name).metrics;
  const sample = label
    ? samples.find((s) => s.labels?.[label[0]] === label[1])
    : samples[0];
  assert.ok(sample, `no sample ${name} ${label}`);
  return Number(sample.value);
}

Deno.test({
  name:
    "GET /metrics reports connections, traffic, errors, refusals and latencies",
  ...SANITIZE,
  async fn() {
    await using server = await startTestServer();
    await using peers = await joinPeers(server.wsUrl, "counted", ["a", "b"]);
    const [a, b] = peers.clients;
    const [, idB] = peers.ids;
    for (let i = 0; i < 32; i++) a.signal(idB, { i });
    for (let i = 0; i < 32; i++) await b.next("signal");
    a.send("not json");
    await a.nextError("bad-message");
    const plain = await fetch(`${server.origin}/ws`); // no Upgrade: 426
    await plain.body?.cancel();

    const families = await scrape(server.origin);
    assert.equal(family(families, "parley_connections").type, "GAUGE");
    assert.equal(value(families, "parley_connections"), 2);
    assert.equal(value(families, "parley_rooms"), 1);
    assert.equal(value(families, "parley_peers"), 2);
    assert.equal(value(families, "parley_joins_total"), 2);
    assert.equal(value(families, "parley_signals_relayed_total"), 32);
    assert.equal(
      value(families, "parley_errors_total", ["code", "bad-message"]),
      1,
    );
    assert.equal(
      value(families, "parley_handshakes_refused_total", ["status", "426"]),
      1,
    );
    assert.equal(value(families, "parley_store_up"), 1);
    assert.equal(value(families, "parley_bus_up"), 1);
    assert.ok(value(families, "parley_process_resident_memory_bytes") > 0);

    const joins = family(families, "parley_join_duration_seconds");
    assert.equal(joins.type, "HISTOGRAM");
    assert.equal(Number(joins.metrics[0].count), 2);
    assert.equal(Number(joins.metrics[0].buckets?.["2.5"]), 2);
    // Relays are timed one in 16: 32 relays, 2 observations.
    const relays = family(families, "parley_relay_duration_seconds");
    assert.equal(Number(relays.metrics[0].count), 2);
  },
});

Deno.test({
  name: "GET /metrics counts closes by code and rate-limit hits",
  ...SANITIZE,
  async fn() {
    await using server = await startTestServer({
      env: { JOIN_TIMEOUT: "200ms", MESSAGE_BURST: "3", MESSAGE_RATE: "1" },
    });
    await using idle = await TestClient.connect(server.wsUrl);
    assert.equal((await idle.waitClose()).code, 4001);
    await using busy = await TestClient.connect(server.wsUrl);
    for (let i = 0; i < 4; i++) busy.send({ type: "ping" });
    for (let i = 0; i < 3; i++) await busy.next("pong"); // the burst of 3
    await busy.nextError("rate-limited");
    const families = await scrape(server.origin);
    assert.equal(value(families, "parley_closes_total", ["code", "4001"]), 1);
    assert.equal(value(families, "parley_rate_limited_total"), 1);
  },
});

Deno.test({
  name: "GET /metrics asks for the bearer token when METRICS_TOKEN is set",
  ...SANITIZE,
  async fn() {
    await using server = await startTestServer({
      env: { METRICS_TOKEN: "letmein" },
    });
    for (const authorization of [undefined, "Bearer nope", "letmein"]) {
      const res = await fetch(`${server.origin}/metrics`, {
        headers: authorization ? { authorization } : {},
      });
      await res.body?.cancel();
      assert.equal(res.status, 401);
    }
    const families = await scrape(server.origin, "letmein");
    assert.equal(value(families, "parley_connections"), 0);
  },
});

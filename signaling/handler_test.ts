import assert from "node:assert/strict";
import { type Asset, createHandler, type HandlerOptions } from "./handler.ts";
import { Hub } from "./hub.ts";
import type { RoomStore } from "../storage/mod.ts";
import { SqliteStore } from "../storage/sqlite_store.ts";

const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["/", {
    body: "<!doctype html><html></html>",
    contentType: "text/html; charset=utf-8",
  }],
  ["/app.js", {
    body: "console.log(1)",
    contentType: "text/javascript; charset=utf-8",
  }],
]);

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function handshake(
  overrides: Record<string, string | null> = {},
  method = "GET",
): Request {
  const headers = new Headers();
  const all: Record<string, string | null> = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": KEY,
    "sec-websocket-version": "13",
    ...overrides,
  };
  for (const [k, v] of Object.entries(all)) if (v !== null) headers.set(k, v);
  return new Request("http://parley.test/ws", { method, headers });
}

function fixture(
  options: HandlerOptions = {},
  store: RoomStore = new SqliteStore(":memory:"),
) {
  const hub = new Hub(store);
  const handler = createHandler({ hub, store, assets: ASSETS }, options);
  return {
    handler,
    hub,
    async call(req: Request): Promise<Response> {
      return await handler(req);
    },
    [Symbol.dispose]: () => store.close(),
  };
}

Deno.test("createHandler() answers GET /ws without Upgrade with 426", async () => {
  using f = fixture();
  const res = await f.call(new Request("http://parley.test/ws"));
  await res.body?.cancel();
  assert.equal(res.status, 426);
  assert.equal(res.headers.get("upgrade"), "websocket");
});

Deno.test("createHandler() answers an invalid handshake with 400, never 500", async () => {
  using f = fixture();
  const cases: [string, Request][] = [
    ["Upgrade is not websocket", handshake({ upgrade: "h2c" })],
    ["no Connection: Upgrade", handshake({ connection: "keep-alive" })],
    ["no key", handshake({ "sec-websocket-key": null })],
    ["a short key", handshake({ "sec-websocket-key": "c2hvcnQ=" })],
    ["version 8", handshake({ "sec-websocket-version": "8" })],
    ["no version", handshake({ "sec-websocket-version": null })],
    ["POST", handshake({}, "POST")],
    ["PUT", handshake({}, "PUT")],
  ];
  for (const [what, req] of cases) {
    const res = await f.call(req);
    await res.body?.cancel();
    assert.equal(res.status, 400, what);
  }
});

Deno.test("createHandler() answers a foreign Origin with 403", async () => {
  using f = fixture();
  for (
    const origin of [
      "https://evil.example",
      "null",
      "file://",
      "http://parley.test.evil",
    ]
  ) {
    const res = await f.call(handshake({ origin }));
    await res.body?.cancel();
    assert.equal(res.status, 403, origin);
  }
});

Deno.test("createHandler() checks ALLOWED_ORIGINS by exact origin", async () => {
  using f = fixture({ allowedOrigins: ["https://app.example"] });
  for (
    const origin of [
      "https://app.example.evil",
      "http://app.example",
      "http://parley.test",
    ]
  ) {
    const res = await f.call(handshake({ origin }));
    await res.body?.cancel();
    assert.equal(res.status, 403, origin);
  }
  // An allowed origin gets past the origin check (the synthetic request
  // then cannot be upgraded, which is a 400, not a 403).
  const res = await f.call(handshake({ origin: "https://app.example" }));
  await res.body?.cancel();
  assert.notEqual(res.status, 403);
});

Deno.test("createHandler() serves /health with status fields and the injected clock", async () => {
  let time = 1_000_000;
  using f = fixture({ version: "9.9.9", now: () => time });
  time += 65_500;
  const res = await f.call(new Request("http://parley.test/health"));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(await res.json(), {
    status: "ok",
    version: "9.9.9",
    uptimeSec: 65,
    connections: 0,
    rooms: 0,
    db: "ok",
  });
});

Deno.test("createHandler() answers /health with 503 when the store's check() throws", async () => {
  const store = new SqliteStore(":memory:");
  const failing: RoomStore = Object.assign(Object.create(store), {
    check: () => Promise.reject(new Error("disk full")),
    counts: () => store.counts(),
    close: () => store.close(),
  });
  using f = fixture({}, failing);
  const res = await f.call(new Request("http://parley.test/health"));
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.db, "error");
  assert.equal(body.status, "degraded");
});

Deno.test("createHandler() serves the page at / and /r/<room> with security headers", async () => {
  using f = fixture();
  for (const path of ["/", "/r/abc", "/r/A-b_9"]) {
    const res = await f.call(new Request(`http://parley.test${path}`));
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(
      res.headers.get("content-security-policy") ?? "",
      /default-src 'none'/,
    );
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    assert.match(await res.text(), /<html>/);
  }
  const js = await f.call(new Request("http://parley.test/app.js"));
  assert.match(js.headers.get("content-type") ?? "", /javascript/);
  await js.body?.cancel();
});

Deno.test("createHandler() answers unknown paths with 404 and other methods with 405", async () => {
  using f = fixture();
  for (
    const path of ["/nope", "/r/", "/r/a b", `/r/${"x".repeat(65)}`, "/r/a/b"]
  ) {
    const res = await f.call(new Request(`http://parley.test${path}`));
    await res.body?.cancel();
    assert.equal(res.status, 404, path);
  }
  const res = await f.call(
    new Request("http://parley.test/", { method: "POST" }),
  );
  await res.body?.cancel();
  assert.equal(res.status, 405);
});

import assert from "node:assert/strict";
import {
  ConfigError,
  databasePath,
  DEFAULTS,
  helpText,
  OPTIONS,
  parseArgs,
  parseConfig,
  parseDuration,
  parseHostPort,
} from "./config.ts";

/** The ConfigError message parseArgs() throws. */
function errorOf(env: Record<string, string>, args: string[] = []): string {
  try {
    parseArgs(env, args);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`no error for ${JSON.stringify({ env, args })}`);
}

Deno.test("parseArgs() gives the documented defaults when nothing is set", () => {
  const { config, help, version } = parseArgs({});
  assert.equal(help, false);
  assert.equal(version, false);
  assert.equal(config.port, 8080);
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.databaseUrl, "file:data/parley.db");
  assert.equal(config.maxRoomSize, 8);
  assert.equal(config.roomTtlMs, 300_000);
  assert.equal(config.resumeGraceMs, 30_000);
  assert.equal(config.maxMessageBytes, 65_536);
  assert.equal(config.joinTimeoutMs, 10_000);
  assert.equal(config.idleTimeoutSec, 60);
  assert.equal(config.errorBudget, 16);
  assert.equal(config.queueLimit, 256);
  assert.equal(config.sweepIntervalMs, 1000);
  assert.equal(config.pingIntervalMs, 20_000);
  assert.deepEqual(config.allowedOrigins, []);
  assert.equal(config.enableCors, false);
  assert.equal(config.debug, false);
  assert.deepEqual(config.stunUrls, ["stun:stun.l.google.com:19302"]);
});

Deno.test("parseDuration() reads ms, s, m and h", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration(" 2s "), 2000);
  for (const bad of ["", "30", "s", "-1s", "1d", "1 s", "1S", "1.s", "abc"]) {
    assert.equal(parseDuration(bad), undefined, bad);
  }
});

Deno.test("parseArgs() reads durations with units from the environment", () => {
  const { config } = parseArgs({
    RESUME_GRACE: "1s",
    ROOM_TTL: "2m",
    JOIN_TIMEOUT: "500ms",
    SWEEP_INTERVAL: "100ms",
    IDLE_TIMEOUT: "90s",
  });
  assert.equal(config.resumeGraceMs, 1000);
  assert.equal(config.roomTtlMs, 120_000);
  assert.equal(config.joinTimeoutMs, 500);
  assert.equal(config.sweepIntervalMs, 100);
  assert.equal(config.idleTimeoutSec, 90);
});

Deno.test("parseArgs() refuses durations without a unit or not positive, naming the option", () => {
  for (const value of ["30", "0s", "-5s", "soon", ""]) {
    const message = errorOf({ RESUME_GRACE: value });
    assert.match(message, /RESUME_GRACE/, value);
    assert.match(message, /--resume-grace/, value);
  }
});

Deno.test("parseArgs() lets a flag override the environment", () => {
  const { config } = parseArgs(
    { PORT: "1000", MAX_ROOM_SIZE: "4" },
    ["--port", "2000", "--max-room-size=6"],
  );
  assert.equal(config.port, 2000);
  assert.equal(config.maxRoomSize, 6);
});

Deno.test("parseArgs() takes --flag=value and --flag value alike", () => {
  const a = parseArgs({}, ["--resume-grace=5s", "--database-url=:memory:"]);
  const b = parseArgs({}, [
    "--resume-grace",
    "5s",
    "--database-url",
    ":memory:",
  ]);
  assert.deepEqual(a, b);
  assert.equal(a.config.resumeGraceMs, 5000);
  // A value may itself contain "=".
  const c = parseArgs({}, ["--database-url=file:a=b.db"]);
  assert.equal(c.config.databaseUrl, "file:a=b.db");
});

Deno.test("parseArgs() reads bool flags with or without a value", () => {
  assert.equal(parseArgs({}, ["--enable-cors"]).config.enableCors, true);
  assert.equal(parseArgs({}, ["--debug=true"]).config.debug, true);
  assert.equal(
    parseArgs({ DEBUG: "1" }, ["--debug=false"]).config.debug,
    false,
  );
  for (const value of ["true", "1", "yes", "on", "TRUE"]) {
    assert.equal(
      parseArgs({ ENABLE_CORS: value }).config.enableCors,
      true,
      value,
    );
  }
  for (const value of ["false", "0", "no", "off", ""]) {
    assert.equal(
      parseArgs({ ENABLE_CORS: value }).config.enableCors,
      false,
      value,
    );
  }
  assert.match(errorOf({ ENABLE_CORS: "maybe" }), /ENABLE_CORS/);
  // A bool flag does not swallow the next argument.
  const parsed = parseArgs({}, ["--debug", "--port", "1"]);
  assert.equal(parsed.config.debug, true);
  assert.equal(parsed.config.port, 1);
});

Deno.test("parseArgs() recognises --help and --version", () => {
  assert.equal(parseArgs({}, ["--help"]).help, true);
  assert.equal(parseArgs({}, ["-h"]).help, true);
  assert.equal(parseArgs({}, ["--version"]).version, true);
  assert.equal(parseArgs({}, ["-V"]).version, true);
});

Deno.test("parseArgs() refuses unknown flags and missing values, naming them", () => {
  assert.match(errorOf({}, ["--nope"]), /--nope/);
  assert.match(errorOf({}, ["--port"]), /--port/);
  assert.match(errorOf({}, ["port=1"]), /Unknown option port/);
});

Deno.test("parseArgs() refuses bad numbers with a message naming the option", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ PORT: "65536" }, /PORT \(--port\)/],
    [{ PORT: "-1" }, /PORT/],
    [{ PORT: "80a" }, /PORT/],
    [{ MAX_ROOM_SIZE: "1" }, /MAX_ROOM_SIZE \(--max-room-size\).*2 to 64/],
    [{ MAX_ROOM_SIZE: "65" }, /MAX_ROOM_SIZE/],
    [{ MAX_ROOM_SIZE: "2.5" }, /MAX_ROOM_SIZE/],
    [{ ERROR_BUDGET: "0" }, /ERROR_BUDGET/],
    [{ QUEUE_LIMIT: "x" }, /QUEUE_LIMIT/],
    [{ MAX_MESSAGE_SIZE: "100" }, /MAX_MESSAGE_SIZE/],
    [{ MAX_MESSAGE_SIZE: "64kb" }, /MAX_MESSAGE_SIZE/],
    [{ HOST: " " }, /HOST/],
    [{ DATABASE_URL: "" }, /DATABASE_URL/],
  ];
  for (const [env, pattern] of cases) {
    const message = errorOf(env);
    assert.match(message, pattern, JSON.stringify(env));
    // The bad value is quoted so the person can find it.
    const value = Object.values(env)[0];
    assert.ok(message.includes(`"${value}"`), message);
  }
});

Deno.test("parseArgs() reads sizes with binary units and lists split on commas", () => {
  assert.equal(
    parseArgs({ MAX_MESSAGE_SIZE: "128KiB" }).config.maxMessageBytes,
    131_072,
  );
  assert.equal(
    parseArgs({ MAX_MESSAGE_SIZE: "1MiB" }).config.maxMessageBytes,
    1_048_576,
  );
  assert.equal(
    parseArgs({ MAX_MESSAGE_SIZE: "2048" }).config.maxMessageBytes,
    2048,
  );
  assert.equal(
    parseArgs({ MAX_MESSAGE_SIZE: "4096B" }).config.maxMessageBytes,
    4096,
  );
  assert.deepEqual(
    parseArgs({ ALLOWED_ORIGINS: " https://a.example, ,https://b.example " })
      .config.allowedOrigins,
    ["https://a.example", "https://b.example"],
  );
  assert.deepEqual(parseArgs({ STUN_URLS: "" }).config.stunUrls, []);
});

Deno.test("parseArgs() refuses an ALLOWED_ORIGINS entry that is not an http(s) origin, naming it", () => {
  for (const entry of ["example.com", "example.com:443", "ftp://example.com"]) {
    const message = errorOf({
      ALLOWED_ORIGINS: `https://ok.example,${entry}`,
    });
    assert.match(message, /ALLOWED_ORIGINS/);
    assert.ok(message.includes(`"${entry}"`), message);
  }
  assert.deepEqual(
    parseArgs({ ALLOWED_ORIGINS: "http://localhost:8080,https://a.example" })
      .config.allowedOrigins,
    ["http://localhost:8080", "https://a.example"],
  );
});

Deno.test("parseConfig() reads the environment only", () => {
  assert.equal(parseConfig({ PORT: "0" }).port, 0);
});

Deno.test("databasePath() maps each DATABASE_URL form to a path", () => {
  assert.equal(databasePath(":memory:"), ":memory:");
  assert.equal(databasePath("file::memory:"), ":memory:");
  assert.equal(databasePath("file:data/parley.db"), "data/parley.db");
  assert.equal(databasePath("file:./x.db"), "./x.db");
  assert.equal(
    databasePath("file:/var/lib/parley/p.db"),
    "/var/lib/parley/p.db",
  );
  assert.equal(
    databasePath("file:///var/lib/parley/p.db"),
    "/var/lib/parley/p.db",
  );
  assert.equal(databasePath("file://localhost/var/p.db"), "/var/p.db");
  assert.equal(databasePath("file:///tmp/a%20b.db"), "/tmp/a b.db");
  assert.equal(databasePath("file:data/p.db?mode=rwc"), "data/p.db");
});

Deno.test("databasePath() refuses other URLs with a ConfigError naming DATABASE_URL", () => {
  for (
    const url of [
      "",
      "data/p.db",
      "file:",
      "sqlite:p.db",
      "postgres://h/db",
      "file://remote/p.db",
      "memory",
    ]
  ) {
    assert.throws(
      () => databasePath(url),
      (error: unknown) =>
        error instanceof ConfigError && /DATABASE_URL/.test(error.message),
      url,
    );
  }
});

Deno.test("helpText() lists every option with its flag and default", () => {
  const text = helpText();
  for (const spec of OPTIONS) {
    const flag = `--${spec.env.toLowerCase().replaceAll("_", "-")}`;
    assert.ok(text.includes(flag), flag);
  }
  assert.match(text, /--resume-grace <value>/);
  assert.match(text, /default: 30s/);
  assert.match(text, /--enable-cors\n/);
  assert.match(text, /--help/);
  assert.match(text, /--version/);
});

Deno.test("parseArgs() gives one Config field per option of the table, and DEFAULTS is it with nothing set", () => {
  const { config } = parseArgs({});
  assert.deepEqual(
    Object.keys(config).sort(),
    OPTIONS.map((o) => o.key).sort(),
  );
  assert.deepEqual(DEFAULTS, config);
  assert.ok(Object.isFrozen(DEFAULTS));
  // IDLE_TIMEOUT reads into whole seconds by its kind, not by its name.
  assert.equal(parseArgs({ IDLE_TIMEOUT: "1500ms" }).config.idleTimeoutSec, 2);
});

Deno.test("parseArgs() reads REDIS_SENTINELS and REDIS_MASTER_NAME", () => {
  const config = parseConfig({
    REDIS_SENTINELS: "127.0.0.1:26379, redis-a:26380,[::1]:26381",
    REDIS_MASTER_NAME: "voice-1",
  });
  assert.deepEqual(config.redisSentinels, [
    "127.0.0.1:26379",
    "redis-a:26380",
    "[::1]:26381",
  ]);
  assert.equal(config.redisMasterName, "voice-1");
  assert.deepEqual(parseConfig({}).redisSentinels, []);
  assert.equal(parseConfig({}).redisMasterName, "parley");
});

Deno.test("parseArgs() refuses bad sentinels, a bad set name, and sentinels with REDIS_URL", () => {
  for (
    const [env, pattern] of [
      [{ REDIS_SENTINELS: "127.0.0.1" }, /REDIS_SENTINELS entry "127.0.0.1"/],
      [{ REDIS_SENTINELS: "a:0" }, /port from 1 to 65535/],
      [{ REDIS_SENTINELS: "a:65536" }, /"a:65536"/],
      [{ REDIS_SENTINELS: "a:26379,b c:1" }, /"b c:1"/],
      [
        { REDIS_SENTINELS: "a:26379", REDIS_MASTER_NAME: "no spaces" },
        /REDIS_MASTER_NAME/,
      ],
      [
        { REDIS_SENTINELS: "a:26379", REDIS_URL: "redis://a:6379" },
        /not both/,
      ],
    ] as const
  ) {
    assert.throws(() => parseConfig(env), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, pattern);
      return true;
    });
  }
  // The edges that are allowed.
  assert.deepEqual(parseHostPort("a:1"), { host: "a", port: 1 });
  assert.deepEqual(parseHostPort("a:65535"), { host: "a", port: 65535 });
  assert.deepEqual(parseHostPort("[::1]:26379"), { host: "::1", port: 26379 });
});

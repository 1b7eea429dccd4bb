/**
 * Parley's entry point: reads the configuration, opens the database, serves,
 * and shuts down cleanly on SIGINT or SIGTERM.
 *
 * @module
 */
import { dirname } from "node:path";
import denoJson from "./deno.json" with { type: "json" };
import {
  ConfigError,
  databasePath,
  helpText,
  OPTIONS,
  parseArgs,
  parseHostPort,
} from "./signaling/config.ts";
import { createLogger } from "./signaling/log.ts";
import { startServer } from "./signaling/server.ts";
import { SqliteStore } from "./storage/sqlite_store.ts";
import { RedisStore } from "./storage/redis_store.ts";
import type { RoomStore } from "./storage/mod.ts";
import { ASSETS } from "./public/assets.ts";

/** Parley's version, from `deno.json`. */
export const VERSION: string = denoJson.version;

/** How long a graceful shutdown may take before the process just exits. */
const SHUTDOWN_TIMEOUT_MS = 5000;

async function main(): Promise<number> {
  const env: Record<string, string | undefined> = {};
  for (const spec of OPTIONS) env[spec.env] = Deno.env.get(spec.env);
  let parsed;
  try {
    parsed = parseArgs(env, Deno.args);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`parley: ${error.message}`);
    return 2;
  }
  if (parsed.help) {
    console.log(helpText());
    return 0;
  }
  if (parsed.version) {
    console.log(`parley ${VERSION}`);
    return 0;
  }
  const { config } = parsed;
  const log = createLogger({ level: config.debug ? "debug" : "info" });

  let store: RoomStore;
  if (config.redisUrl !== "" || config.redisSentinels.length > 0) {
    const target = config.redisUrl !== "" ? config.redisUrl : {
      sentinels: config.redisSentinels.map((entry) => parseHostPort(entry)!),
      masterName: config.redisMasterName,
    };
    try {
      store = await RedisStore.open(target, {
        resumeGraceMs: config.resumeGraceMs,
        instanceTtlMs: config.instanceTtlMs,
        onStateChange: ({ connected }) =>
          log[connected ? "info" : "warn"]("redis.state", { connected }),
      });
    } catch (error) {
      console.error(`parley: ${(error as Error).message}`);
      return 2;
    }
  } else {
    const opened = await openSqlite(config.databaseUrl);
    if (typeof opened === "string") {
      console.error(`parley: ${opened}`);
      return 2;
    }
    store = opened;
  }
  const server = await startServer(config, { store, assets: ASSETS }, {
    log,
    version: VERSION,
  });
  const stop = (signal: string) => {
    log.info("shutdown", { signal });
    setTimeout(() => {
      log.warn("shutdown.timeout", { afterMs: SHUTDOWN_TIMEOUT_MS });
      Deno.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    server.shutdown().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  await server.finished;
  return 0;
}

/** Opens the SQLite database, or says why it cannot. */
async function openSqlite(url: string): Promise<SqliteStore | string> {
  let path: string;
  try {
    path = databasePath(url);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.message;
  }
  if (path !== ":memory:") {
    const dir = dirname(path);
    for (const name of ["read", "write"] as const) {
      const { state } = await Deno.permissions.query({ name, path: dir });
      if (state !== "granted") {
        return `no ${name} permission for ${dir} (DATABASE_URL ${url}); ` +
          `run with --allow-read=${dir} --allow-write=${dir}`;
      }
    }
    await Deno.mkdir(dir, { recursive: true });
  }
  return new SqliteStore(path);
}

if (import.meta.main) {
  const code = await main();
  if (code !== 0) Deno.exit(code);
}

/**
 * Starting Parley for tests, two ways:
 *
 * - {@linkcode startTestServer}: in this process on port 0, with any
 *   {@linkcode RoomStore} (the `store` factory), an injectable clock and the
 *   hub at hand. Integration scenarios take a {@linkcode StoreBackend}, so the
 *   same scenarios run against SQLite and Redis.
 * - {@linkcode spawnServer}: `main.ts` as a real process in its own process
 *   group, configured through the environment, for restarts and signals.
 *
 * @module
 */
import {
  type Config,
  databasePath,
  parseArgs,
} from "../../signaling/config.ts";
import { type RunningServer, startServer } from "../../signaling/server.ts";
import type { HubOptions } from "../../signaling/hub.ts";
import type { RoomStore } from "../../storage/mod.ts";
import { SqliteStore } from "../../storage/sqlite_store.ts";
import { ASSETS } from "../../public/assets.ts";
import { deadline } from "./wait.ts";
import { TEST_ENV, type TestEnv } from "../../testing/spawn_server.ts";

export {
  type SpawnedServer,
  type SpawnOptions,
  spawnServer,
  TEST_ENV,
  type TestEnv,
} from "../../testing/spawn_server.ts";
import { ControlRoom } from "./ws_client.ts";
import { redisInstalled, type RedisServer, startRedis } from "./redis.ts";
import {
  RedisStore,
  type RedisStoreOptions,
} from "../../storage/redis_store.ts";

/** A validated config from {@linkcode TEST_ENV} plus `env`. */
export function testConfig(env: TestEnv = {}): Config {
  return parseArgs({ ...TEST_ENV, ...env }).config;
}

/** A storage implementation the integration scenarios run against. */
export interface StoreBackend {
  readonly name: string;
  /** Opens a fresh, empty store for one server. */
  create(config: Config): RoomStore | Promise<RoomStore>;
  /** Releases what `create` started for `store` (after the server stops). */
  dispose?(store: RoomStore): Promise<void>;
}

/** SQLite at `DATABASE_URL` (`:memory:` by default). */
export const SQLITE_BACKEND: StoreBackend = {
  name: "sqlite",
  create: (config) => new SqliteStore(databasePath(config.databaseUrl)),
};

const redisServers = new WeakMap<RoomStore, RedisServer>();

/**
 * Redis: a fresh `redis-server` per test server, so tests share nothing.
 * Without `redis-server` installed, creating one fails when `CI=true` and
 * the backend is left out otherwise.
 */
export const REDIS_BACKEND: StoreBackend = {
  name: "redis",
  async create(config) {
    const redis = await startRedis();
    try {
      const store = await openRedisStore(redis.url, config);
      redisServers.set(store, redis);
      return store;
    } catch (error) {
      await redis.close();
      throw error;
    }
  },
  async dispose(store) {
    await redisServers.get(store)?.close();
  },
};

/**
 * A {@linkcode RedisStore} on `url` with the timings of `config` (the test
 * defaults unless given), as `main.ts` opens it.
 */
export async function openRedisStore(
  url: string,
  config: Config = testConfig(),
  options: Partial<RedisStoreOptions> = {},
): Promise<RedisStore> {
  return await RedisStore.open(url, {
    resumeGraceMs: config.resumeGraceMs,
    instanceTtlMs: config.instanceTtlMs,
    ...options,
  });
}

/** The backends integration scenarios run against. */
export const BACKENDS: StoreBackend[] = redisInstalled() ||
    Deno.env.get("CI") === "true"
  ? [SQLITE_BACKEND, REDIS_BACKEND]
  : [SQLITE_BACKEND];

/** Options for {@linkcode startTestServer}. */
export interface TestServerOptions {
  /** Configuration on top of {@linkcode TEST_ENV}. @default {{}} */
  env?: TestEnv;
  /** @default {SQLITE_BACKEND} */
  backend?: StoreBackend;
  /** A ready store instead of `backend` (e.g. one whose check() throws). */
  store?: RoomStore;
  /** @default {Date.now} */
  now?: () => number;
  /** Test hook passed to the hub. */
  inspect?: HubOptions["inspect"];
}

/** An in-process server. */
export interface TestServer extends AsyncDisposable {
  readonly config: Config;
  readonly store: RoomStore;
  readonly server: RunningServer;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** `ws://127.0.0.1:PORT/ws` */
  readonly wsUrl: string;
  readonly port: number;
  /** Shuts the server down (closing sockets with 4000); idempotent. */
  close(): Promise<void>;
}

/** Starts Parley in this process on a free port. */
export async function startTestServer(
  options: TestServerOptions = {},
): Promise<TestServer> {
  const config = testConfig(options.env);
  const backend = options.backend ?? SQLITE_BACKEND;
  const store = options.store ?? await backend.create(config);
  const server = await startServer(config, { store, assets: ASSETS }, {
    now: options.now,
    inspect: options.inspect,
  });
  const port = server.addr.port;
  const close = async () => {
    await deadline(server.shutdown(), "server shutdown");
    if (!options.store) await backend.dispose?.(store);
  };
  return {
    config,
    store,
    server,
    port,
    origin: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A fresh temporary directory, removed on dispose. */
export async function tempDir(): Promise<
  { path: string } & AsyncDisposable
> {
  const path = await Deno.makeTempDir({ prefix: "parley-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** A test server with a control room that proves it still serves others. */
export interface ControlledServer extends AsyncDisposable {
  readonly server: TestServer;
  readonly control: ControlRoom;
}

/**
 * Starts a test server and opens a {@linkcode ControlRoom} on it, checked
 * once: the set-up of every test that abuses a server and then shows that
 * the well-behaved peers never noticed.
 */
export async function controlledServer(
  options: TestServerOptions = {},
): Promise<ControlledServer> {
  const server = await startTestServer(options);
  try {
    const control = await ControlRoom.open(server.wsUrl);
    await control.check();
    return {
      server,
      control,
      async [Symbol.asyncDispose]() {
        await control.close();
        await server.close();
      },
    };
  } catch (error) {
    await server.close();
    throw error;
  }
}

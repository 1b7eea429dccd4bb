/**
 * Wires one Parley instance together: store, hub, handler, sweeper, and a
 * shutdown that tells every client to reconnect. `main.ts` runs it from the
 * command line; tests run it in-process on port 0.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { type Asset, createHandler } from "./handler.ts";
import { Hub, type HubOptions } from "./hub.ts";
import { hubConfig } from "./hub_options.ts";
import { createIceServers } from "./ice_servers.ts";
import { ClientLimiter } from "./limits.ts";
import { SocketRegistry } from "./websocket.ts";
import { type Logger, SILENT_LOGGER } from "./log.ts";
import type { RoomStore } from "../storage/mod.ts";

/** How often memory, event-loop lag and idle addresses are looked at. */
const WATCHDOG_MS = 1000;

/** How long a shutdown waits for clients to finish their close handshake. */
const SOCKET_DRAIN_MS = 2000;
/** How long to wait before listening again after the accept loop failed. */
const RELISTEN_MS = 1000;

/** Sweeps between checks of the loaded rooms against the store. */
const RECONCILE_SWEEPS = 10;

/** What {@linkcode startServer} needs besides the configuration. */
export interface ServerDeps {
  store: RoomStore;
  assets: ReadonlyMap<string, Asset>;
}

/** Options for {@linkcode startServer}. */
export interface ServerOptions {
  /** @default {SILENT_LOGGER} */
  log?: Logger;
  /** @default {"dev"} */
  version?: string;
  /** @default {Date.now} */
  now?: () => number;
  /** Test hook, see {@linkcode HubOptions.inspect}. */
  inspect?: HubOptions["inspect"];
}

/** A running instance. */
export interface RunningServer {
  /** Where it listens. */
  readonly addr: Deno.NetAddr;
  readonly hub: Hub;
  /**
   * Stops accepting, closes every socket with the restart code, stops the
   * sweeper and closes the store. Idempotent.
   */
  shutdown(): Promise<void>;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
}

/** Starts an instance on `config.host`:`config.port`. */
export async function startServer(
  config: Config,
  deps: ServerDeps,
  options: ServerOptions = {},
): Promise<RunningServer> {
  const log = options.log ?? SILENT_LOGGER;
  const now = options.now ?? Date.now;
  const hub = new Hub(deps.store, {
    ...hubConfig(config),
    // A member whose `left` event was lost goes within ten sweeps.
    reconcileIntervalMs: config.sweepIntervalMs * RECONCILE_SWEEPS,
    inspect: options.inspect,
    iceServers: createIceServers(config, { now }),
    now,
    log,
  });
  const recovered = await hub.recover();
  if (recovered > 0) log.info("sessions.recovered", { peers: recovered });

  const limiter = new ClientLimiter({
    maxSocketsPerIp: config.maxConnectionsPerIp,
    handshakesPerSec: config.handshakeRate,
    joinsPerSec: config.joinRate,
    knocksPerMin: config.knockRate,
    exempt: config.exemptIps,
    now,
  });
  // Deno buffers a fragmented message, or one frame up to 64 MiB, before the
  // application sees it. The application cannot stop that, so it refuses new
  // sockets while the process is over its memory bound.
  let overloaded = false;
  let lastTick = performance.now();
  const watchdog = setInterval(() => {
    // How late this timer fired is how long the event loop was busy.
    const tick = performance.now();
    const lagSec = Math.max(0, tick - lastTick - WATCHDOG_MS) / 1000;
    lastTick = tick;
    hub.metrics.observeEventLoopLag(lagSec);
    const rss = Deno.memoryUsage().rss;
    if ((rss > config.maxMemoryBytes) !== overloaded) {
      overloaded = !overloaded;
      log.warn(overloaded ? "memory.over" : "memory.ok", { rss });
    }
    limiter.prune();
  }, WATCHDOG_MS);

  const registry = new SocketRegistry();
  const handler = createHandler(
    { hub, store: deps.store, assets: deps.assets, registry },
    {
      version: options.version,
      allowedOrigins: config.allowedOrigins,
      enableCors: config.enableCors,
      allowNoOrigin: config.allowNoOrigin,
      idleTimeoutSec: config.idleTimeoutSec,
      maxConnections: config.maxConnections,
      trustedProxies: config.trustedProxies,
      limiter,
      overloaded: () => overloaded,
      metricsToken: config.metricsToken,
      now,
    },
  );
  const serve = (port: number) => {
    const { promise: listening, resolve, reject } = Promise.withResolvers<
      Deno.NetAddr
    >();
    const server = Deno.serve({
      port,
      hostname: config.host,
      onListen: (addr) => resolve(addr as Deno.NetAddr),
      onError: (error) => {
        log.error("http.failed", {
          error: error instanceof Error ? error.message : String(error),
        });
        return new Response("Internal server error\n", { status: 500 });
      },
    }, handler);
    server.finished.catch(reject);
    return { server, listening };
  };
  let current = serve(config.port);
  const addr = await current.listening;
  const { promise: finished, resolve: finish } = Promise.withResolvers<void>();
  let stopping: Promise<void> | undefined;
  // Deno.serve's accept loop ends when the process runs out of file
  // descriptors (EMFILE: more sockets than `ulimit -n` allows, e.g. a flood
  // of connections under a MAX_CONNECTIONS above the limit). The sockets it
  // served go with it, but the process, its sessions and every other room
  // stay: it listens again on the same port, and clients resume.
  const watch = (server: Deno.HttpServer) => {
    server.finished.then(finish, async (error) => {
      if (stopping) return finish();
      log.error("http.accept.failed", {
        error: error instanceof Error ? error.message : String(error),
        retryMs: RELISTEN_MS,
      });
      for (;;) {
        await new Promise((r) => setTimeout(r, RELISTEN_MS));
        if (stopping) return finish();
        const next = serve(addr.port);
        try {
          await next.listening;
          current = next;
          log.info("listening.again", { port: addr.port });
          watch(next.server);
          return;
        } catch (error) {
          log.error("http.listen.failed", {
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
    });
  };
  watch(current.server);
  log.info("listening", {
    url: `http://${addr.hostname}:${addr.port}/`,
    store: config.redisUrl || config.redisSentinels.length > 0
      ? "redis"
      : config.databaseUrl,
  });

  let sweeping = false;
  const sweeper = setInterval(async () => {
    // One step at a time: a slow store never stacks up sweeps.
    if (sweeping) return;
    sweeping = true;
    try {
      await hub.sweep();
    } catch (error) {
      log.warn("sweep.failed", {
        error: error instanceof Error ? error.message : String(error),
      });
    } finally {
      sweeping = false;
    }
  }, config.sweepIntervalMs);

  return {
    addr,
    hub,
    finished,
    shutdown() {
      stopping ??= (async () => {
        clearInterval(sweeper);
        clearInterval(watchdog);
        hub.shutdown();
        // Let clients answer our 4000 close before the server cuts the rest.
        await registry.drained(SOCKET_DRAIN_MS);
        await current.server.shutdown().catch(() => {});
        deps.store.close();
        log.info("stopped");
      })();
      return stopping;
    },
  };
}

/**
 * The hub's options, their defaults and the counters it reports. The
 * configuration options default to {@linkcode DEFAULTS}, the table in
 * `config.ts`, so each default is written once.
 *
 * @module
 */
import type { ClientMessage } from "./protocol.ts";
import { type Config, DEFAULTS } from "./config.ts";
import type { IceServerList } from "./ice_servers.ts";
import { type Logger, SILENT_LOGGER } from "./log.ts";
import { Metrics } from "./metrics.ts";

/** The configuration options the hub takes, by their {@linkcode Config} names. */
export const HUB_CONFIG_KEYS = [
  "maxRoomSize",
  "resumeGraceMs",
  "roomTtlMs",
  "queueLimit",
  "unloadGraceMs",
  "errorBudget",
  "joinTimeoutMs",
  "maxMessageBytes",
  "pingIntervalMs",
  "sweepBatch",
  "maxBufferedBytes",
  "messageRate",
  "messageBurst",
  "candidateBurst",
  "maxSdpBytes",
  "maxCandidateBytes",
  "knockTimeoutMs",
  "maxKnocks",
  "roomKnockRate",
] as const satisfies readonly (keyof Config)[];

/**
 * Options for {@linkcode Hub}; every field has a default. The configuration
 * options default to {@linkcode DEFAULTS} (see `--help` for each meaning).
 */
export interface HubOptions
  extends Partial<Pick<Config, typeof HUB_CONFIG_KEYS[number]>> {
  /**
   * How often, at most, a sweep also checks each loaded room against the
   * store (with a bus only), so a member whose `left` event was lost goes
   * within this bound. @default {10 × the default SWEEP_INTERVAL}
   */
  reconcileIntervalMs?: number;
  /** Failed store writes kept for retry; past it the oldest is given up. @default {1000} */
  retryLimit?: number;
  /**
   * Called with every parsed message before it is handled. A test hook: a
   * hook that throws shows how the hub survives a fault in a handler.
   * @default {undefined}
   */
  inspect?: (msg: ClientMessage) => void;
  /** ICE servers handed to a peer in `joined`. @default {no servers} */
  iceServers?: (peerId: string) => IceServerList;
  /** @default {Date.now} */
  now?: () => number;
  /** @default {SILENT_LOGGER} */
  log?: Logger;
  /** Where counts and latencies go. @default {new Metrics()} */
  metrics?: Metrics;
}

/** {@linkcode HubOptions} with every default filled in. */
export type ResolvedHubOptions = Required<HubOptions>;

/** Counters for `/health` and `/metrics`. */
export interface HubStats {
  connections: number;
  rooms: number;
  sessions: number;
  joins: number;
  resumes: number;
  relayed: number;
  errors: number;
}

/** The hub's options out of a whole configuration. */
export function hubConfig(
  config: Readonly<Config>,
): Pick<Config, typeof HUB_CONFIG_KEYS[number]> {
  return Object.fromEntries(
    HUB_CONFIG_KEYS.map((key) => [key, config[key]]),
  ) as Pick<Config, typeof HUB_CONFIG_KEYS[number]>;
}

/** {@linkcode HubOptions} with every field set: defaults where not given. */
export function resolveHubOptions(options: HubOptions): ResolvedHubOptions {
  return {
    ...hubConfig(DEFAULTS),
    reconcileIntervalMs: DEFAULTS.sweepIntervalMs * 10,
    retryLimit: 1000,
    inspect: () => {},
    iceServers: () => ({ iceServers: [] }),
    now: Date.now,
    log: SILENT_LOGGER,
    metrics: new Metrics(),
    ...definedOnly(options),
  };
}

/** `options` without the fields set to undefined, which would hide defaults. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

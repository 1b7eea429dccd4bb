/**
 * {@linkcode RoomStore} and {@linkcode Bus} on Redis, for several Parley
 * instances behind one load balancer. The only file that imports the Redis
 * client.
 *
 * Data (every key under `parley:`):
 * - `peer:<id>` hash: room, name, tokenHash, joinedAt, awaySince ("" while
 *   present), instance ("" while away). Away peers' hashes expire on their
 *   own after the grace and a margin, in case no instance is left to sweep.
 * - `room:<id>` sorted set of peer IDs by join time; Redis drops it when it
 *   empties. `meta:<id>` hash: host (a peer ID) and locked ("1"), deleted
 *   when the room empties. `rooms` (all rooms), `empty` (rooms by when they emptied),
 *   `away` (peers by when they went away) and `peers` index the rest.
 * - `queue:<id>` list of frames for an away peer, expiring like the peer.
 * - `knocks:<room>` sorted set of waiting knocks by when they stop counting,
 *   and `knockrate:<room>` hash (tokens, at) of the room's knock bucket;
 *   both expire on their own.
 * - `instances` sorted set of instance IDs by last heartbeat, and
 *   `instance:<id>` the set of peers present on each.
 *
 * Every change that must be atomic across instances is one Lua script: room
 * capacity (two instances can never admit peer 9 into a room of 8), resume
 * (marks the peer present here and hands back its queue in one step, so a
 * frame is either in that queue or finds the peer present), enqueue, and the
 * sweep (each expired peer is removed, and so announced, exactly once).
 *
 * Channels: `parley:i:<instance>` carries frames for peers on that instance
 * (a signal has one receiver, so one publish reaches exactly the instance
 * that holds it, whatever the number of rooms), and `parley:r:<room>` carries
 * membership events to the instances with members in the room (they follow
 * it while they do). Both go out on one connection in order, so frames from
 * one sender keep their order. A publish that reaches nobody means the
 * instance is gone, and the frame goes to the peer's queue instead.
 *
 * @module
 */
import { createClient, createSentinel } from "redis";
import {
  type AddPeerOptions,
  type AddPeerResult,
  type Bus,
  type BusHandlers,
  type EnqueueResult,
  type KnockLimits,
  type OpenKnockResult,
  type PeerRecord,
  type RoomEvent,
  type RoomState,
  type RoomStore,
  StoreUnavailableError,
  type SweepOptions,
  type SweepResult,
} from "./mod.ts";

type RedisClient = ReturnType<typeof createClient>;

/**
 * Where Redis is: a `redis://` URL, or sentinels that name the primary of
 * the set `masterName` (and name the new one after a failover).
 */
export type RedisTarget = string | {
  sentinels: { host: string; port: number }[];
  masterName: string;
};

function describeTarget(target: RedisTarget): string {
  return typeof target === "string"
    ? redactUrl(target)
    : `the primary "${target.masterName}" of sentinels ${
      target.sentinels.map((s) => `${s.host}:${s.port}`).join(", ")
    }`;
}

/** How long a lost connection waits before its next attempt. */
function reconnectDelay(retries: number): number {
  return Math.min(100 * 2 ** retries, 2000);
}

/**
 * A client for `target`. With sentinels it is node-redis's sentinel
 * client: it asks them for the primary, follows their `+switch-master`
 * and rescans every second, so commands and subscriptions move to the
 * promoted replica without a restart. Its command surface is the one this
 * store uses, so it is typed as a plain client.
 */
function connectTo(target: RedisTarget): RedisClient {
  if (typeof target === "string") {
    return createClient({
      url: target,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: reconnectDelay },
    });
  }
  const sentinel = createSentinel({
    name: target.masterName,
    sentinelRootNodes: target.sentinels,
    scanInterval: 1000,
    nodeClientOptions: {
      disableOfflineQueue: true,
      socket: { reconnectStrategy: reconnectDelay },
    },
    sentinelClientOptions: {
      socket: { reconnectStrategy: reconnectDelay },
    },
  });
  return sentinel as unknown as RedisClient;
}

/** Options for {@linkcode RedisStore}. */
export interface RedisStoreOptions {
  /** This instance's ID. @default {a random ID} */
  instanceId?: string;
  /** Key and channel prefix. @default {"parley:"} */
  prefix?: string;
  /**
   * An instance silent this long is dead; its peers go away. Required: its
   * default is the server's (`INSTANCE_TTL`).
   */
  instanceTtlMs: number;
  /** How often this instance says it is alive. @default {a fifth of instanceTtlMs, at least 100} */
  heartbeatMs?: number;
  /** How often the bus checks that its own messages come back. @default {5000} */
  probeIntervalMs?: number;
  /**
   * Grace for away peers, to let their keys expire on their own. Required:
   * its default is the server's (`RESUME_GRACE`).
   */
  resumeGraceMs: number;
  /** @default {Date.now} */
  now?: () => number;
  /** Called when the connection state changes. */
  onStateChange?: (state: { connected: boolean; healthy: boolean }) => void;
}

// A Lua function shared by the scripts that remove a peer.
const REMOVE_PEER = `
local function removePeer(p, id, now)
  local pk = p .. 'peer:' .. id
  local room = redis.call('HGET', pk, 'room')
  redis.call('ZREM', p .. 'away', id)
  if not room then return false, false end
  local inst = redis.call('HGET', pk, 'instance')
  redis.call('DEL', pk, p .. 'queue:' .. id)
  redis.call('SREM', p .. 'peers', id)
  if inst and inst ~= '' then redis.call('SREM', p .. 'instance:' .. inst, id) end
  local rk = p .. 'room:' .. room
  local mk = p .. 'meta:' .. room
  local wasHost = redis.call('HGET', mk, 'host') == id
  redis.call('ZREM', rk, id)
  if redis.call('ZCARD', rk) == 0 then
    redis.call('ZADD', p .. 'empty', now, room)
    redis.call('DEL', mk)
  elseif wasHost then
    -- The member present longest takes over; an away one if none is.
    local members = redis.call('ZRANGE', rk, 0, -1)
    local next = members[1]
    for _, m in ipairs(members) do
      if redis.call('HGET', p .. 'peer:' .. m, 'awaySince') == '' then
        next = m
        break
      end
    end
    redis.call('HSET', mk, 'host', next)
  end
  return room, wasHost
end
`;

const SCRIPTS = {
  // ARGV: prefix, room, peer, name, tokenHash, joinedAt, instance, max,
  // admitted ("1" or "0")
  addPeer: `
local p = ARGV[1]
local rk = p .. 'room:' .. ARGV[2]
local mk = p .. 'meta:' .. ARGV[2]
local n = redis.call('ZCARD', rk)
if n >= tonumber(ARGV[8]) then return 0 end
if ARGV[9] ~= '1' and n > 0 and redis.call('HGET', mk, 'locked') == '1' then
  return 2
end
redis.call('HSETNX', mk, 'host', ARGV[3])
redis.call('ZADD', rk, ARGV[6], ARGV[3])
redis.call('ZADD', p .. 'rooms', 'NX', ARGV[6], ARGV[2])
redis.call('ZREM', p .. 'empty', ARGV[2])
redis.call('HSET', p .. 'peer:' .. ARGV[3], 'room', ARGV[2], 'name', ARGV[4],
  'tokenHash', ARGV[5], 'joinedAt', ARGV[6], 'awaySince', '', 'instance', ARGV[7])
redis.call('SADD', p .. 'peers', ARGV[3])
redis.call('SADD', p .. 'instance:' .. ARGV[7], ARGV[3])
return 1`,
  // ARGV: prefix, peer, since, instance, ttlSec
  setAway: `
local p = ARGV[1]
local pk = p .. 'peer:' .. ARGV[2]
local inst = redis.call('HGET', pk, 'instance')
if (not inst) or inst ~= ARGV[4] then return 0 end
redis.call('HSET', pk, 'awaySince', ARGV[3], 'instance', '')
redis.call('ZADD', p .. 'away', ARGV[3], ARGV[2])
redis.call('SREM', p .. 'instance:' .. inst, ARGV[2])
redis.call('EXPIRE', pk, ARGV[5])
return 1`,
  // ARGV: prefix, peer, instance
  resume: `
local p = ARGV[1]
local id = ARGV[2]
local pk = p .. 'peer:' .. id
local old = redis.call('HGET', pk, 'instance')
if not old then return false end
if old ~= '' then redis.call('SREM', p .. 'instance:' .. old, id) end
redis.call('HSET', pk, 'awaySince', '', 'instance', ARGV[3])
redis.call('PERSIST', pk)
redis.call('ZREM', p .. 'away', id)
redis.call('SADD', p .. 'instance:' .. ARGV[3], id)
local qk = p .. 'queue:' .. id
local out = { 'ok' }
for _, v in ipairs(redis.call('LRANGE', qk, 0, -1)) do out[#out + 1] = v end
redis.call('DEL', qk)
return out`,
  // ARGV: prefix, peer, text, limit, ttlSec, now, unreachable instance or ''
  enqueue: `
local p = ARGV[1]
local id = ARGV[2]
local pk = p .. 'peer:' .. id
local inst = redis.call('HGET', pk, 'instance')
if not inst then return { 'gone' } end
if inst ~= '' and inst == ARGV[7] then
  redis.call('HSET', pk, 'awaySince', ARGV[6], 'instance', '')
  redis.call('ZADD', p .. 'away', ARGV[6], id)
  redis.call('SREM', p .. 'instance:' .. inst, id)
  redis.call('EXPIRE', pk, ARGV[5])
  inst = ''
end
if inst ~= '' then return { 'present', inst } end
local qk = p .. 'queue:' .. id
if redis.call('LLEN', qk) >= tonumber(ARGV[4]) then return { 'full' } end
redis.call('RPUSH', qk, ARGV[3])
redis.call('EXPIRE', qk, ARGV[5])
return { 'queued' }`,
  // ARGV: prefix, room, host, locked ("1" or "0")
  setLocked: `
local mk = ARGV[1] .. 'meta:' .. ARGV[2]
if redis.call('HGET', mk, 'host') == ARGV[3] then
  redis.call('HSET', mk, 'locked', ARGV[4])
end
return redis.call('HMGET', mk, 'host', 'locked')`,
  // ARGV: prefix, room, knock, now, maxWaiting, perMinute, timeoutMs
  openKnock: `
local p = ARGV[1]
local wk = p .. 'knocks:' .. ARGV[2]
local bk = p .. 'knockrate:' .. ARGV[2]
local now = tonumber(ARGV[4])
local per = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', wk, '-inf', now)
if redis.call('ZCARD', wk) >= tonumber(ARGV[5]) then return 'busy' end
local b = redis.call('HMGET', bk, 'tokens', 'at')
local tokens = tonumber(b[1]) or per
local at = tonumber(b[2]) or now
tokens = math.min(per, tokens + math.max(0, now - at) * per / 60000)
if tokens < 1 then return 'rate' end
redis.call('HSET', bk, 'tokens', tostring(tokens - 1), 'at', ARGV[4])
redis.call('PEXPIRE', bk, 60000)
redis.call('ZADD', wk, now + tonumber(ARGV[7]), ARGV[3])
redis.call('PEXPIRE', wk, tonumber(ARGV[7]))
return 'ok'`,
  // ARGV: prefix, peer, now
  removePeer: REMOVE_PEER + `
local room = removePeer(ARGV[1], ARGV[2], ARGV[3])
if room then return 1 end
return 0`,
  // ARGV: prefix, now, graceCutoff, ttlCutoff, batch, deadCutoff, ttlSec
  sweep: REMOVE_PEER + `
local p = ARGV[1]
local now = ARGV[2]
local batch = tonumber(ARGV[5])
local dead = redis.call('ZRANGEBYSCORE', p .. 'instances', '-inf', ARGV[6], 'LIMIT', 0, batch)
for _, inst in ipairs(dead) do
  for _, id in ipairs(redis.call('SMEMBERS', p .. 'instance:' .. inst)) do
    local pk = p .. 'peer:' .. id
    if redis.call('HGET', pk, 'instance') == inst then
      redis.call('HSET', pk, 'awaySince', now, 'instance', '')
      redis.call('ZADD', p .. 'away', now, id)
      redis.call('EXPIRE', pk, ARGV[7])
    end
  end
  redis.call('DEL', p .. 'instance:' .. inst)
  redis.call('ZREM', p .. 'instances', inst)
end
local peers = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'away', '-inf', ARGV[3], 'LIMIT', 0, batch)) do
  local room, wasHost = removePeer(p, id, now)
  if room then
    peers[#peers + 1] = id
    peers[#peers + 1] = room
    peers[#peers + 1] = wasHost and '1' or '0'
  end
end
local rooms = {}
for _, r in ipairs(redis.call('ZRANGEBYSCORE', p .. 'empty', '-inf', ARGV[4], 'LIMIT', 0, batch)) do
  redis.call('ZREM', p .. 'empty', r)
  if redis.call('EXISTS', p .. 'room:' .. r) == 0 then
    redis.call('ZREM', p .. 'rooms', r)
    rooms[#rooms + 1] = r
  end
end
return { peers, rooms }`,
} as const;

/** How long a health check waits for Redis. */
const CHECK_TIMEOUT_MS = 1000;

/** A {@linkcode RoomStore} and {@linkcode Bus} shared through Redis. */
export class RedisStore implements RoomStore, Bus {
  readonly instanceId: string;
  readonly #client: RedisClient;
  readonly #sub: RedisClient;
  readonly #prefix: string;
  readonly #options: Required<Omit<RedisStoreOptions, "onStateChange">>;
  readonly #onStateChange?: RedisStoreOptions["onStateChange"];
  /** Rooms followed, or being subscribed to, by their subscription. */
  readonly #rooms = new Map<string, Promise<void>>();
  #handlers?: BusHandlers;
  /** Frames for other instances, by instance, until the next flush. */
  #outbox = new Map<string, PeerFrame[]>();
  #flushQueued = false;
  #heartbeat?: ReturnType<typeof setInterval>;
  #probe?: ReturnType<typeof setInterval>;
  #lastProbeAt = 0;
  #connected = false;
  #closed = false;

  /** Connects to `target`; see {@linkcode RedisStore.open}. */
  private constructor(target: RedisTarget, options: RedisStoreOptions) {
    this.#prefix = options.prefix ?? "parley:";
    this.instanceId = options.instanceId ?? crypto.randomUUID();
    this.#options = {
      instanceId: this.instanceId,
      prefix: this.#prefix,
      heartbeatMs: Math.max(100, Math.floor(options.instanceTtlMs / 5)),
      probeIntervalMs: 5000,
      now: Date.now,
      ...definedOnly(options),
    };
    this.#onStateChange = options.onStateChange;
    // Without the offline queue a command fails at once while Redis is
    // down, so a join answers `unavailable` instead of hanging.
    this.#client = connectTo(target);
    this.#sub = connectTo(target);
    for (const client of [this.#client, this.#sub]) {
      // Errors come back through the commands; the event only reports.
      client.on("error", () => {});
      client.on("ready", () => this.#stateChanged());
      client.on("end", () => this.#stateChanged());
      client.on("reconnecting", () => this.#stateChanged());
    }
  }

  /**
   * Connects to Redis, or throws {@linkcode StoreUnavailableError} if it
   * cannot be reached within `timeoutMs`.
   */
  static async open(
    target: RedisTarget,
    options: RedisStoreOptions & { timeoutMs?: number },
  ): Promise<RedisStore> {
    const store = new RedisStore(target, options);
    const timeoutMs = options.timeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.all([store.#client.connect(), store.#sub.connect()]),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      store.close();
      throw new StoreUnavailableError(
        `Cannot reach Redis at ${describeTarget(target)}: ${messageOf(error)}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
    await store.#sub.subscribe(
      store.#instanceChannel(store.instanceId),
      (m) => store.#fromInstanceChannel(m),
    );
    store.#lastProbeAt = store.#options.now();
    await store.#beat().catch(() => {});
    store.#heartbeat = setInterval(
      () => store.#beat().catch(() => {}),
      store.#options.heartbeatMs,
    );
    store.#probe = setInterval(
      () => store.#sendProbe(),
      store.#options.probeIntervalMs,
    );
    store.#stateChanged();
    return store;
  }

  get bus(): Bus {
    return this;
  }

  /** Connected, and the last probe came back in time. */
  get healthy(): boolean {
    return this.#connected &&
      this.#options.now() - this.#lastProbeAt <
        this.#options.probeIntervalMs * 3;
  }

  // ---- RoomStore ----

  async addPeer(
    peer: PeerRecord,
    maxRoomSize: number,
    options: AddPeerOptions = {},
  ): Promise<AddPeerResult> {
    const added = await this.#eval("addPeer", [
      peer.roomId,
      peer.peerId,
      peer.name,
      peer.tokenHash,
      String(peer.joinedAt),
      peer.instanceId ?? this.instanceId,
      String(maxRoomSize),
      options.admitted ? "1" : "0",
    ]);
    return added === 1 ? "ok" : added === 2 ? "locked" : "full";
  }

  async getRoom(roomId: string): Promise<RoomState> {
    const [host, locked] = await this.#run(() =>
      this.#client.hmGet(`${this.#prefix}meta:${roomId}`, ["host", "locked"])
    );
    return toState(host, locked);
  }

  async setLocked(
    roomId: string,
    hostId: string,
    locked: boolean,
  ): Promise<RoomState> {
    const [host, flag] = await this.#eval("setLocked", [
      roomId,
      hostId,
      locked ? "1" : "0",
    ]) as (string | null)[];
    return toState(host, flag);
  }

  async openKnock(
    roomId: string,
    knockId: string,
    now: number,
    limits: KnockLimits,
  ): Promise<OpenKnockResult> {
    return await this.#eval("openKnock", [
      roomId,
      knockId,
      String(now),
      String(limits.maxWaiting),
      String(limits.perMinute),
      String(limits.timeoutMs),
    ]) as OpenKnockResult;
  }

  async closeKnock(roomId: string, knockId: string): Promise<void> {
    await this.#run(() =>
      this.#client.zRem(`${this.#prefix}knocks:${roomId}`, knockId)
    );
  }

  async getPeer(peerId: string): Promise<PeerRecord | undefined> {
    const hash = await this.#run(() =>
      this.#client.hGetAll(`${this.#prefix}peer:${peerId}`)
    );
    return hash.room ? toRecord(peerId, hash) : undefined;
  }

  async listPeers(roomId: string): Promise<PeerRecord[]> {
    const ids = await this.#run(() =>
      this.#client.zRange(`${this.#prefix}room:${roomId}`, 0, -1)
    );
    if (ids.length === 0) return [];
    const multi = this.#client.multi();
    for (const id of ids) multi.hGetAll(`${this.#prefix}peer:${id}`);
    const hashes = await this.#run(() => multi.exec()) as unknown as Record<
      string,
      string
    >[];
    const records: PeerRecord[] = [];
    ids.forEach((id, i) => {
      if (hashes[i]?.room) records.push(toRecord(id, hashes[i]));
    });
    return records;
  }

  async setAway(
    peerId: string,
    since: number,
    instanceId: string,
  ): Promise<void> {
    await this.#eval("setAway", [
      peerId,
      String(since),
      instanceId,
      String(this.#keyTtlSec()),
    ]);
  }

  async resume(
    peerId: string,
    instanceId: string,
  ): Promise<string[] | undefined> {
    const result = await this.#eval("resume", [peerId, instanceId]);
    if (!Array.isArray(result)) return undefined;
    return (result as string[]).slice(1);
  }

  async enqueue(
    peerId: string,
    text: string,
    limit: number,
    unreachable?: string,
  ): Promise<EnqueueResult> {
    const [status, instanceId] = await this.#eval("enqueue", [
      peerId,
      text,
      String(limit),
      String(this.#keyTtlSec()),
      String(this.#options.now()),
      unreachable ?? "",
    ]) as string[];
    if (status === "present") return { status, instanceId };
    return { status: status as "queued" | "full" | "gone" };
  }

  async removePeer(peerId: string, now: number): Promise<boolean> {
    return await this.#eval("removePeer", [peerId, String(now)]) === 1;
  }

  /** Nothing to do: peers of a dead instance are found by the sweep. */
  recover(_instanceId: string, _now: number): Promise<number> {
    return Promise.resolve(0);
  }

  async sweep(now: number, options: SweepOptions): Promise<SweepResult> {
    const [flat, rooms] = await this.#eval("sweep", [
      String(now),
      String(now - options.graceMs),
      String(now - options.roomTtlMs),
      String(options.batch),
      String(now - this.#options.instanceTtlMs),
      String(this.#keyTtlSec()),
    ]) as [string[], string[]];
    const peers: SweepResult["peers"] = [];
    for (let i = 0; i < flat.length; i += 3) {
      const peer: SweepResult["peers"][number] = {
        peerId: flat[i],
        roomId: flat[i + 1],
      };
      if (flat[i + 2] === "1") peer.wasHost = true;
      peers.push(peer);
    }
    return { peers, rooms };
  }

  async counts(): Promise<{ rooms: number; peers: number }> {
    const [rooms, peers] = await this.#run(() =>
      Promise.all([
        this.#client.zCard(`${this.#prefix}rooms`),
        this.#client.sCard(`${this.#prefix}peers`),
      ])
    );
    return { rooms, peers };
  }

  async check(): Promise<void> {
    // A client that follows sentinels holds commands while it looks for
    // the new primary: a health check must answer now, so it waits
    // CHECK_TIMEOUT_MS at most.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `no answer within ${CHECK_TIMEOUT_MS} ms (a failover in progress?)`,
            ),
          ),
        CHECK_TIMEOUT_MS,
      );
    });
    try {
      await this.#run(() =>
        Promise.race([
          this.#client.set(`${this.#prefix}check`, String(this.#options.now())),
          late,
        ])
      );
    } finally {
      clearTimeout(timer);
    }
    if (!this.healthy) {
      throw new StoreUnavailableError("Redis pub/sub is not delivering");
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearInterval(this.#probe);
    for (const client of [this.#client, this.#sub]) {
      try {
        // A sentinel client's destroy() is a promise; a plain one's is not.
        const done: unknown = client.destroy();
        if (done instanceof Promise) done.catch(() => {});
      } catch {
        // Never connected.
      }
    }
  }

  // ---- Bus ----

  listen(handlers: BusHandlers): void {
    this.#handlers = handlers;
  }

  /**
   * Queues a frame for a peer on another instance. Frames for one instance
   * go out together, one PUBLISH per instance at the end of this turn of
   * the event loop (a burst costs one command and one pub/sub message, not
   * one per frame), in the order they were sent.
   */
  sendToPeer(
    instanceId: string,
    peerId: string,
    text: string,
    hops: number,
  ): void {
    let frames = this.#outbox.get(instanceId);
    if (!frames) {
      frames = [];
      this.#outbox.set(instanceId, frames);
    }
    frames.push({ peerId, text, hops });
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  publish(roomId: string, event: RoomEvent): void {
    // Frames sent before this event go first: one connection keeps order.
    this.#flush();
    const message = JSON.stringify({ o: this.instanceId, e: event });
    this.#client.publish(this.#roomChannel(roomId), message).catch(() => {});
  }

  /** Publishes what {@linkcode sendToPeer} queued, one message per instance. */
  #flush(): void {
    this.#flushQueued = false;
    if (this.#outbox.size === 0) return;
    const outbox = this.#outbox;
    this.#outbox = new Map();
    for (const [instanceId, frames] of outbox) {
      this.#client.publish(
        this.#instanceChannel(instanceId),
        encodeFrames(frames),
      ).then(
        (receivers) => {
          if (receivers !== 0) return;
          for (const f of frames) {
            this.#handlers?.undeliverable(f.peerId, f.text, f.hops, instanceId);
          }
        },
        // Redis is down: the peer's own instance cannot be reached either
        // way; its client recovers through resume and ICE restarts.
        () => {},
      );
    }
  }

  follow(roomId: string): Promise<void> {
    let following = this.#rooms.get(roomId);
    if (!following) {
      // A failed subscribe leaves the room unfollowed, so the next load of
      // the room subscribes again instead of trusting a dead subscription.
      following = this.#run(() =>
        this.#sub.subscribe(
          this.#roomChannel(roomId),
          (m, channel) => this.#fromRoom(m, channel),
        )
      ).catch((error) => {
        if (this.#rooms.get(roomId) === following) this.#rooms.delete(roomId);
        throw error;
      });
      this.#rooms.set(roomId, following);
    }
    return following;
  }

  unfollow(roomId: string): void {
    if (!this.#rooms.delete(roomId)) return;
    this.#sub.unsubscribe(this.#roomChannel(roomId)).catch(() => {});
  }

  // ---- internals ----

  #instanceChannel(instanceId: string): string {
    return `${this.#prefix}i:${instanceId}`;
  }

  #roomChannel(roomId: string): string {
    return `${this.#prefix}r:${roomId}`;
  }

  #fromInstanceChannel(message: string): void {
    if (message.startsWith("p|")) {
      this.#lastProbeAt = this.#options.now();
      this.#stateChanged();
      return;
    }
    const handlers = this.#handlers;
    if (!handlers) return;
    for (const f of decodeFrames(message)) {
      handlers.peerMessage(f.peerId, f.text, f.hops);
    }
  }

  #fromRoom(message: string, channel: string): void {
    let parsed: { o: string; e: RoomEvent };
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (parsed.o === this.instanceId) return;
    const roomId = channel.slice(this.#roomChannel("").length);
    if (this.#rooms.has(roomId)) this.#handlers?.roomEvent(roomId, parsed.e);
  }

  async #beat(): Promise<void> {
    await this.#client.zAdd(`${this.#prefix}instances`, {
      score: this.#options.now(),
      value: this.instanceId,
    });
  }

  /**
   * Publishes a probe to this instance's own channel. If none came back for
   * a while although the connection is up, the subscription went silent:
   * subscribe again.
   */
  #sendProbe(): void {
    const now = this.#options.now();
    this.#client.publish(this.#instanceChannel(this.instanceId), `p|${now}`)
      .catch(() => {});
    const silentMs = now - this.#lastProbeAt;
    if (this.#connected && silentMs > this.#options.probeIntervalMs * 3) {
      this.#resubscribe().then(() => this.#handlers?.resync(), () => {});
    }
    this.#stateChanged();
  }

  async #resubscribe(): Promise<void> {
    await this.#sub.unsubscribe();
    await this.#sub.subscribe(
      this.#instanceChannel(this.instanceId),
      (m) => this.#fromInstanceChannel(m),
    );
    for (const roomId of this.#rooms.keys()) {
      await this.#sub.subscribe(
        this.#roomChannel(roomId),
        (m, channel) => this.#fromRoom(m, channel),
      );
    }
  }

  #stateChanged(): void {
    const connected = this.#client.isReady && this.#sub.isReady;
    if (connected && !this.#connected) {
      // Back after an outage: say we are alive before anyone sweeps us,
      // and let the hub check what it missed.
      this.#beat().catch(() => {});
      this.#handlers?.resync();
    }
    this.#connected = connected;
    this.#onStateChange?.({ connected, healthy: this.healthy });
  }

  #keyTtlSec(): number {
    // Grace plus a margin: the sweeper normally removes the peer first and
    // announces it; the expiry only cleans up if no instance is left.
    return Math.ceil(this.#options.resumeGraceMs / 1000) + 60;
  }

  async #eval(name: keyof typeof SCRIPTS, args: string[]): Promise<unknown> {
    return await this.#run(() =>
      this.#client.eval(SCRIPTS[name], {
        keys: [],
        arguments: [this.#prefix, ...args],
      })
    );
  }

  async #run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError("Store is closed");
    try {
      return await fn();
    } catch (error) {
      throw new StoreUnavailableError(`Redis failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }
}

/** A frame on its way to a peer on another instance. */
export interface PeerFrame {
  peerId: string;
  /** The frame as the peer's socket receives it, passed through unparsed. */
  text: string;
  hops: number;
}

/**
 * One instance-channel message for `frames`: `m|<hops>|<peerId>|<frame>`
 * for one, `b|` then `<hops>|<peerId>|<length>|<frame>` for each of
 * several (lengths in UTF-16 code units, as JavaScript slices them).
 */
export function encodeFrames(frames: readonly PeerFrame[]): string {
  if (frames.length === 1) {
    const [f] = frames;
    return `m|${f.hops}|${f.peerId}|${f.text}`;
  }
  let out = "b|";
  for (const f of frames) {
    out += `${f.hops}|${f.peerId}|${f.text.length}|${f.text}`;
  }
  return out;
}

/** The frames of an instance-channel message; none if it is malformed. */
export function decodeFrames(message: string): PeerFrame[] {
  if (message.startsWith("m|")) {
    // The frame is passed through unparsed.
    const a = message.indexOf("|", 2);
    const b = message.indexOf("|", a + 1);
    if (a < 0 || b < 0) return [];
    return [{
      hops: Number(message.slice(2, a)),
      peerId: message.slice(a + 1, b),
      text: message.slice(b + 1),
    }];
  }
  if (!message.startsWith("b|")) return [];
  const frames: PeerFrame[] = [];
  let at = 2;
  while (at < message.length) {
    const a = message.indexOf("|", at);
    const b = message.indexOf("|", a + 1);
    const c = message.indexOf("|", b + 1);
    if (a < 0 || b < 0 || c < 0) return [];
    const length = Number(message.slice(b + 1, c));
    const end = c + 1 + length;
    if (!Number.isInteger(length) || length < 0 || end > message.length) {
      return [];
    }
    frames.push({
      hops: Number(message.slice(at, a)),
      peerId: message.slice(a + 1, b),
      text: message.slice(c + 1, end),
    });
    at = end;
  }
  return frames;
}

function toRecord(peerId: string, hash: Record<string, string>): PeerRecord {
  return {
    peerId,
    roomId: hash.room,
    name: hash.name ?? "",
    tokenHash: hash.tokenHash,
    joinedAt: Number(hash.joinedAt),
    awaySince: hash.awaySince ? Number(hash.awaySince) : null,
    instanceId: hash.instance ? hash.instance : null,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The URL without a password, for messages and logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(invalid URL)";
  }
}

/** `options` without the fields set to undefined, which would hide defaults. */
function definedOnly<T extends object>(options: T): T {
  return Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  ) as T;
}

function toState(
  host: string | null | undefined,
  locked: string | null | undefined,
): RoomState {
  return { host: host || null, locked: locked === "1" };
}

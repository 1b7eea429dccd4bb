/**
 * {@linkcode RoomStore} on SQLite through `node:sqlite`: one file (or
 * `:memory:`), WAL mode, partial indexes for expiry.
 *
 * `node:sqlite` is synchronous, so a lock wait blocks every room on this
 * process. The busy timeout is kept to tens of milliseconds: a write that
 * cannot get the lock by then fails with {@linkcode StoreUnavailableError},
 * the client is told `unavailable`, and nothing else waits. Only joins,
 * leaves, drops, resumes and sweeps write; relaying a signal never does.
 *
 * Messages for away peers are queued in memory (one instance holds every
 * socket, so a resume always lands here); a restart loses them, which the
 * protocol allows: `joined.peers` is the authoritative membership.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  type AddPeerOptions,
  type AddPeerResult,
  type EnqueueResult,
  type KnockLimits,
  type OpenKnockResult,
  type PeerRecord,
  type RoomState,
  type RoomStore,
  StoreUnavailableError,
  type SweepOptions,
  type SweepResult,
} from "./mod.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rooms (
  id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  empty_since INTEGER,
  host TEXT,
  locked INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS rooms_expiry ON rooms (empty_since)
  WHERE empty_since IS NOT NULL;
CREATE TABLE IF NOT EXISTS peers (
  id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL REFERENCES rooms (id),
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  joined_at INTEGER NOT NULL,
  away_since INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS peers_room ON peers (room_id, joined_at);
CREATE INDEX IF NOT EXISTS peers_expiry ON peers (away_since)
  WHERE away_since IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) STRICT;
`;

/** Columns added after the first schema, added to older files on open. */
const ADDED_COLUMNS = [
  ["rooms", "host", "TEXT"],
  ["rooms", "locked", "INTEGER NOT NULL DEFAULT 0"],
] as const;

/** Options for {@linkcode SqliteStore}. */
export interface SqliteStoreOptions {
  /** How long a write waits for a lock held elsewhere. @default {25} */
  busyTimeoutMs?: number;
}

interface PeerRow {
  id: string;
  room_id: string;
  name: string;
  token_hash: string;
  joined_at: number;
  away_since: number | null;
}

/** A {@linkcode RoomStore} in one SQLite database. */
export class SqliteStore implements RoomStore {
  readonly #db: DatabaseSync;
  readonly #sql: Record<
    | "countInRoom"
    | "insertRoom"
    | "fillRoom"
    | "getRoom"
    | "claimHost"
    | "setLocked"
    | "nextHost"
    | "setHost"
    | "insertPeer"
    | "getPeer"
    | "listPeers"
    | "setAway"
    | "deletePeer"
    | "emptyRoom"
    | "markAllAway"
    | "expiredPeers"
    | "expiredRooms"
    | "deleteRoom"
    | "countRooms"
    | "countPeers"
    | "check",
    StatementSync
  >;
  #closed = false;
  #checkpoint?: StatementSync;
  readonly #queues = new Map<string, string[]>();
  /** Knock accounting per room (one instance holds every knock). */
  readonly #knocks = new Map<string, KnockCount>();

  /** Opens (creating if needed) the database at `path`, or `:memory:`. */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.#db = wrap(() => new DatabaseSync(path));
    wrap(() => {
      this.#db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 25}`);
      if (path !== ":memory:") {
        this.#db.exec("PRAGMA journal_mode = WAL");
        // SQLite checkpoints (and fsyncs) inside whichever commit fills the
        // WAL past 1000 pages: a join then stalls every socket for a few
        // milliseconds, about every 220 joins (docs/benchmarks.md). The
        // sweeper checkpoints instead, once per SWEEP_INTERVAL at most.
        this.#db.exec("PRAGMA wal_autocheckpoint = 0");
        this.#checkpoint = this.#db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
      }
      // In WAL mode NORMAL loses no committed transaction on a process crash,
      // only possibly the last ones on a power cut, and skips an fsync a write.
      this.#db.exec("PRAGMA synchronous = NORMAL");
      this.#db.exec("PRAGMA foreign_keys = ON");
      this.#db.exec(SCHEMA);
      for (const [table, column, type] of ADDED_COLUMNS) {
        const columns = this.#db.prepare(`PRAGMA table_info(${table})`)
          .all() as { name: string }[];
        if (!columns.some((c) => c.name === column)) {
          this.#db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
        }
      }
    });
    const db = this.#db;
    this.#sql = {
      countInRoom: db.prepare(
        "SELECT count(*) AS n FROM peers WHERE room_id = ?",
      ),
      insertRoom: db.prepare(
        "INSERT OR IGNORE INTO rooms (id, created_at, empty_since) VALUES (?, ?, NULL)",
      ),
      fillRoom: db.prepare("UPDATE rooms SET empty_since = NULL WHERE id = ?"),
      getRoom: db.prepare("SELECT host, locked FROM rooms WHERE id = ?"),
      claimHost: db.prepare(
        "UPDATE rooms SET host = ? WHERE id = ? AND host IS NULL",
      ),
      setLocked: db.prepare(
        "UPDATE rooms SET locked = ? WHERE id = ? AND host = ?",
      ),
      // The member present longest; away members only if none is present.
      nextHost: db.prepare(
        "SELECT id FROM peers WHERE room_id = ? ORDER BY (away_since IS NOT NULL), joined_at, id LIMIT 1",
      ),
      setHost: db.prepare(
        "UPDATE rooms SET host = ?, locked = CASE WHEN ? IS NULL THEN 0 ELSE locked END WHERE id = ?",
      ),
      insertPeer: db.prepare(
        "INSERT INTO peers (id, room_id, name, token_hash, joined_at, away_since) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      getPeer: db.prepare("SELECT * FROM peers WHERE id = ?"),
      listPeers: db.prepare(
        "SELECT * FROM peers WHERE room_id = ? ORDER BY joined_at, id",
      ),
      setAway: db.prepare("UPDATE peers SET away_since = ? WHERE id = ?"),
      deletePeer: db.prepare(
        "DELETE FROM peers WHERE id = ? RETURNING room_id",
      ),
      emptyRoom: db.prepare(
        "UPDATE rooms SET empty_since = ? WHERE id = ? AND NOT EXISTS (SELECT 1 FROM peers WHERE room_id = ?)",
      ),
      markAllAway: db.prepare("UPDATE peers SET away_since = ?"),
      expiredPeers: db.prepare(
        "SELECT id, room_id FROM peers WHERE away_since IS NOT NULL AND away_since <= ? ORDER BY away_since LIMIT ?",
      ),
      expiredRooms: db.prepare(
        "SELECT id FROM rooms WHERE empty_since IS NOT NULL AND empty_since <= ? ORDER BY empty_since LIMIT ?",
      ),
      deleteRoom: db.prepare(
        "DELETE FROM rooms WHERE id = ? AND NOT EXISTS (SELECT 1 FROM peers WHERE room_id = ?)",
      ),
      countRooms: db.prepare("SELECT count(*) AS n FROM rooms"),
      countPeers: db.prepare("SELECT count(*) AS n FROM peers"),
      check: db.prepare(
        "INSERT INTO meta (key, value) VALUES ('checked_at', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ),
    };
  }

  addPeer(
    peer: PeerRecord,
    maxRoomSize: number,
    options: AddPeerOptions = {},
  ): Promise<AddPeerResult> {
    return this.#transaction(() => {
      const { n } = this.#sql.countInRoom.get(peer.roomId) as { n: number };
      if (n >= maxRoomSize) return "full";
      if (!options.admitted && n > 0 && this.#state(peer.roomId).locked) {
        return "locked";
      }
      this.#sql.insertRoom.run(peer.roomId, peer.joinedAt);
      this.#sql.fillRoom.run(peer.roomId);
      this.#sql.claimHost.run(peer.peerId, peer.roomId);
      this.#sql.insertPeer.run(
        peer.peerId,
        peer.roomId,
        peer.name,
        peer.tokenHash,
        peer.joinedAt,
        peer.awaySince,
      );
      return "ok";
    });
  }

  getRoom(roomId: string): Promise<RoomState> {
    return this.#run(() => this.#state(roomId));
  }

  setLocked(
    roomId: string,
    hostId: string,
    locked: boolean,
  ): Promise<RoomState> {
    return this.#transaction(() => {
      this.#sql.setLocked.run(locked ? 1 : 0, roomId, hostId);
      return this.#state(roomId);
    });
  }

  openKnock(
    roomId: string,
    knockId: string,
    now: number,
    limits: KnockLimits,
  ): Promise<OpenKnockResult> {
    let count = this.#knocks.get(roomId);
    if (!count) {
      count = { tokens: limits.perMinute, at: now, waiting: new Map() };
      this.#knocks.set(roomId, count);
    }
    const result = takeKnock(count, knockId, now, limits);
    // An entry with nothing waiting and a full bucket says nothing.
    for (const [id, entry] of this.#knocks) {
      if (
        entry.waiting.size === 0 && id !== roomId &&
        refilled(entry, now, limits.perMinute) >= limits.perMinute
      ) {
        this.#knocks.delete(id);
      }
    }
    return Promise.resolve(result);
  }

  closeKnock(roomId: string, knockId: string): Promise<void> {
    this.#knocks.get(roomId)?.waiting.delete(knockId);
    return Promise.resolve();
  }

  getPeer(peerId: string): Promise<PeerRecord | undefined> {
    return this.#run(() => {
      const row = this.#sql.getPeer.get(peerId) as PeerRow | undefined;
      return row && toRecord(row);
    });
  }

  listPeers(roomId: string): Promise<PeerRecord[]> {
    return this.#run(() =>
      (this.#sql.listPeers.all(roomId) as unknown as PeerRow[]).map(toRecord)
    );
  }

  setAway(peerId: string, since: number, _instanceId: string): Promise<void> {
    return this.#run(() => {
      this.#sql.setAway.run(since, peerId);
    });
  }

  resume(peerId: string, _instanceId: string): Promise<string[] | undefined> {
    return this.#run(() => {
      if (this.#sql.setAway.run(null, peerId).changes === 0) return undefined;
      const queued = this.#queues.get(peerId) ?? [];
      this.#queues.delete(peerId);
      return queued;
    });
  }

  enqueue(peerId: string, text: string, limit: number): Promise<EnqueueResult> {
    let queue = this.#queues.get(peerId);
    if (!queue) {
      queue = [];
      this.#queues.set(peerId, queue);
    }
    if (queue.length >= limit) return Promise.resolve({ status: "full" });
    queue.push(text);
    return Promise.resolve({ status: "queued" });
  }

  removePeer(peerId: string, now: number): Promise<boolean> {
    return this.#transaction(() => this.#remove(peerId, now) !== false);
  }

  recover(_instanceId: string, now: number): Promise<number> {
    return this.#run(() => Number(this.#sql.markAllAway.run(now).changes));
  }

  sweep(now: number, options: SweepOptions): Promise<SweepResult> {
    return this.#transaction(() => {
      const peers = (this.#sql.expiredPeers.all(
        now - options.graceMs,
        options.batch,
      ) as unknown as { id: string; room_id: string }[]).map((
        row,
      ): SweepResult["peers"][number] => ({
        peerId: row.id,
        roomId: row.room_id,
      }));
      for (const peer of peers) {
        if (this.#remove(peer.peerId, now) === "host") peer.wasHost = true;
      }
      const rooms: string[] = [];
      const candidates = this.#sql.expiredRooms.all(
        now - options.roomTtlMs,
        options.batch,
      ) as unknown as { id: string }[];
      for (const { id } of candidates) {
        if (this.#sql.deleteRoom.run(id, id).changes > 0) rooms.push(id);
      }
      return { peers, rooms };
    }).then((result) => {
      // Every sweep checkpoints: with nothing new in the WAL that costs a
      // few microseconds. PASSIVE never waits for readers or writers of
      // other processes.
      if (this.#checkpoint) wrap(() => this.#checkpoint?.get());
      return result;
    });
  }

  counts(): Promise<{ rooms: number; peers: number }> {
    return this.#run(() => ({
      rooms: (this.#sql.countRooms.get() as { n: number }).n,
      peers: (this.#sql.countPeers.get() as { n: number }).n,
    }));
  }

  check(): Promise<void> {
    return this.#run(() => {
      this.#sql.check.run(String(Date.now()));
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.close();
    } catch {
      // Already closed or never fully opened: nothing left to release.
    }
  }

  /** Removes a peer; "host" if it was its room's host. */
  #remove(peerId: string, now: number): boolean | "host" {
    const row = this.#sql.deletePeer.get(peerId) as
      | { room_id: string }
      | undefined;
    this.#queues.delete(peerId);
    if (!row) return false;
    this.#sql.emptyRoom.run(now, row.room_id, row.room_id);
    if (this.#state(row.room_id).host === peerId) {
      const next = this.#sql.nextHost.get(row.room_id) as
        | { id: string }
        | undefined;
      const host = next?.id ?? null;
      this.#sql.setHost.run(host, host, row.room_id);
      return "host";
    }
    return true;
  }

  #state(roomId: string): RoomState {
    const row = this.#sql.getRoom.get(roomId) as
      | { host: string | null; locked: number }
      | undefined;
    return { host: row?.host ?? null, locked: row?.locked === 1 };
  }

  #run<T>(fn: () => T): Promise<T> {
    try {
      if (this.#closed) throw new StoreUnavailableError("Store is closed");
      return Promise.resolve(wrap(fn));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #transaction<T>(fn: () => T): Promise<T> {
    return this.#run(() => {
      // IMMEDIATE takes the write lock up front, so the capacity check and
      // the insert see the same room even with another process on the file.
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        const result = fn();
        this.#db.exec("COMMIT");
        return result;
      } catch (error) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw error;
      }
    });
  }
}

/** Knocks on one room: a token bucket and the knocks waiting. */
interface KnockCount {
  tokens: number;
  at: number;
  /** Waiting knocks by ID, with when they stop counting. */
  waiting: Map<string, number>;
}

function refilled(count: KnockCount, now: number, perMinute: number): number {
  return Math.min(
    perMinute,
    count.tokens + Math.max(0, now - count.at) * perMinute / 60_000,
  );
}

/** The same rule as the Redis script `openKnock`. */
function takeKnock(
  count: KnockCount,
  knockId: string,
  now: number,
  limits: KnockLimits,
): OpenKnockResult {
  for (const [id, until] of count.waiting) {
    if (until <= now) count.waiting.delete(id);
  }
  if (count.waiting.size >= limits.maxWaiting) return "busy";
  const tokens = refilled(count, now, limits.perMinute);
  if (tokens < 1) return "rate";
  count.tokens = tokens - 1;
  count.at = now;
  count.waiting.set(knockId, now + limits.timeoutMs);
  return "ok";
}

function toRecord(row: PeerRow): PeerRecord {
  return {
    peerId: row.id,
    roomId: row.room_id,
    name: row.name,
    tokenHash: row.token_hash,
    joinedAt: row.joined_at,
    awaySince: row.away_since,
  };
}

/**
 * SQLite's messages for the conditions that pass (busy, locked, read-only,
 * I/O, full, cannot open): `node:sqlite` in Deno gives no result code, only
 * `ERR_SQLITE_ERROR` and the text of `sqlite3_errstr()`.
 * https://www.sqlite.org/rescode.html
 */
const UNAVAILABLE = [
  "database is locked", // SQLITE_BUSY
  "database table is locked", // SQLITE_LOCKED
  "attempt to write a readonly database", // SQLITE_READONLY
  "disk I/O error", // SQLITE_IOERR
  "database or disk is full", // SQLITE_FULL
  "unable to open database file", // SQLITE_CANTOPEN
];

/**
 * Runs `fn`, turning SQLite's busy, read-only, I/O and full errors into
 * {@linkcode StoreUnavailableError}. Anything else (a constraint, a missing
 * table, a bad binding) is a bug and is thrown as it is.
 */
function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!isUnavailable(error)) throw error;
    throw new StoreUnavailableError(`Storage failed: ${error.message}`, {
      cause: error,
    });
  }
}

function isUnavailable(error: unknown): error is Error {
  return error instanceof Error &&
    (error as { code?: unknown }).code === "ERR_SQLITE_ERROR" &&
    UNAVAILABLE.some((text) => error.message.startsWith(text));
}

/**
 * Parley's wire protocol, version 1: the message types, the one parser that
 * turns a raw text frame into a typed message, and the tables of error and
 * close codes. `docs/protocol.md` is the prose version of this file.
 *
 * @module
 */

/** A message reference a client may attach; errors and `joined` echo it. */
export type Ref = string | number;

/** `join`: enter a room as a new peer, or resume a session with `token`. */
export interface JoinMessage {
  type: "join";
  room: string;
  name?: string;
  token?: string;
  ref?: Ref;
}

/** `signal`: relay opaque `data` to another member of the room. */
export interface SignalMessage {
  type: "signal";
  to: string;
  data: unknown;
  ref?: Ref;
  /**
   * True when the raw frame holds only the fields above, so the relay may
   * forward the raw text with `from` appended instead of re-serialising.
   */
  plain: boolean;
}

/**
 * `leave`: leave the room for good, or, with `unload`, in a moment unless
 * the same session comes back first (a page reload).
 */
export interface LeaveMessage {
  type: "leave";
  unload?: boolean;
  ref?: Ref;
}

/** `ping`: answered with `pong`. */
export interface PingMessage {
  type: "ping";
  ref?: Ref;
}

/** `ice-servers`: asks for fresh ICE servers (TURN credentials expire). */
export interface IceServersRequest {
  type: "ice-servers";
  ref?: Ref;
}

/** `lock`: the host locks or unlocks the room. */
export interface LockMessage {
  type: "lock";
  locked: boolean;
  ref?: Ref;
}

/** `admit` or `deny`: the host answers a knock. */
export interface AnswerMessage {
  type: "admit" | "deny";
  knockId: string;
  ref?: Ref;
}

/** `remove`: the host removes a member from the room. */
export interface RemoveMessage {
  type: "remove";
  peerId: string;
  ref?: Ref;
}

/** Every message a client may send. */
export type ClientMessage =
  | JoinMessage
  | SignalMessage
  | LeaveMessage
  | PingMessage
  | IceServersRequest
  | LockMessage
  | AnswerMessage
  | RemoveMessage;

/** A member of a room as other peers see it. */
export interface PeerInfo {
  peerId: string;
  name: string;
}

/** What a server tells a client it enforces. */
export interface Limits {
  maxRoomSize: number;
  maxMessageBytes: number;
  resumeGraceMs: number;
  queueLimit: number;
  pingIntervalMs: number;
}

/** An ICE server as `RTCPeerConnection` takes it. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** `joined`: the socket holds a session in `room` now. */
export interface JoinedMessage {
  type: "joined";
  room: string;
  peerId: string;
  token: string;
  resumed: boolean;
  peers: PeerInfo[];
  iceServers: IceServer[];
  iceServersTtlMs?: number;
  limits: Limits;
  /** The host's peer ID (null only in a room being emptied). */
  host: string | null;
  locked: boolean;
  ref?: Ref;
}

/** `room`: the room's host or lock changed. */
export interface RoomStateMessage {
  type: "room";
  host: string | null;
  locked: boolean;
}

/** `knocking`: the room is locked; the host was asked to let you in. */
export interface KnockingMessage {
  type: "knocking";
  knockId: string;
  ref?: Ref;
}

/** `knock`: to the host, someone asks to join. */
export interface KnockMessage {
  type: "knock";
  knockId: string;
  name: string;
}

/** `knock-ended`: to the host, a knock was answered, timed out or gave up. */
export interface KnockEndedMessage {
  type: "knock-ended";
  knockId: string;
}

/** `ice-servers`: fresh ICE servers, on request. */
export interface IceServersMessage {
  type: "ice-servers";
  iceServers: IceServer[];
  iceServersTtlMs?: number;
  ref?: Ref;
}

/** `peer-joined`: a new member of the room. */
export interface PeerJoinedMessage {
  type: "peer-joined";
  peerId: string;
  name: string;
}

/** `peer-left`: a member left for good. */
export interface PeerLeftMessage {
  type: "peer-left";
  peerId: string;
}

/**
 * A relayed `signal`. The relay forwards a plain frame as the sender wrote
 * it, with `from` appended, so `to` (the receiver's own ID) and the sender's
 * `ref` may come along; receivers ignore them.
 */
export interface RelayedSignalMessage {
  type: "signal";
  from: string;
  data: unknown;
  to?: string;
  ref?: Ref;
}

/** `error`: the message with `ref` could not be carried out. */
export interface ErrorMessage {
  type: "error";
  code: ErrorCode;
  message: string;
  ref?: Ref;
}

/** `pong`: the answer to `ping`. */
export interface PongMessage {
  type: "pong";
  ref?: Ref;
}

/** Every message the server sends. */
export type ServerMessage =
  | JoinedMessage
  | IceServersMessage
  | PeerJoinedMessage
  | PeerLeftMessage
  | RelayedSignalMessage
  | ErrorMessage
  | PongMessage
  | RoomStateMessage
  | KnockingMessage
  | KnockMessage
  | KnockEndedMessage;

/** A message as a client sends it (the server adds `plain` when parsing). */
export type ClientFrame =
  | JoinMessage
  | Omit<SignalMessage, "plain">
  | LeaveMessage
  | PingMessage
  | IceServersRequest
  | LockMessage
  | AnswerMessage
  | RemoveMessage;

/**
 * Error codes, and whether each one spends the socket's error budget (bad
 * input does; a refusal a well-behaved client can run into does not).
 */
export const ERROR_CODES = {
  "bad-message": { budget: true },
  "unknown-type": { budget: true },
  "binary-frame": { budget: true },
  "invalid-room": { budget: true },
  "invalid-name": { budget: true },
  "not-joined": { budget: true },
  "already-joined": { budget: true },
  "too-large": { budget: true },
  "rate-limited": { budget: false },
  "invalid-token": { budget: false },
  "room-full": { budget: false },
  "unknown-peer": { budget: false },
  "queue-full": { budget: false },
  "unavailable": { budget: false },
  "not-host": { budget: false },
  "knock-denied": { budget: false },
  "knock-timeout": { budget: false },
  "internal": { budget: false },
} as const;

/** A stable error code clients can act on. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Close codes. 4000–4499 tell the client to reconnect and resume; 4500–4999
 * tell it not to reconnect on its own.
 */
export const CLOSE = {
  normal: { code: 1000, reason: "bye" },
  restart: { code: 4000, reason: "restart" },
  joinTimeout: { code: 4001, reason: "join-timeout" },
  slowConsumer: { code: 4002, reason: "slow-consumer" },
  protocolError: { code: 4500, reason: "protocol-error" },
  replaced: { code: 4501, reason: "replaced" },
  tooLarge: { code: 4502, reason: "too-large" },
  rateLimited: { code: 4503, reason: "rate-limited" },
  removed: { code: 4504, reason: "removed" },
} as const;

/** One entry of {@linkcode CLOSE}. */
export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

/**
 * Whether a client may reconnect (and resume) after the server closed its
 * socket with `code`: not for 4500–4999; yes for 4000–4499 and for the
 * 1xxx codes of a dropped connection.
 */
export function mayReconnect(code: number): boolean {
  return code < 4500 || code > 4999;
}

/** The one error clients see: a stable code and a message for people. */
export class ProtocolError extends Error {
  /** The stable code sent to the client. */
  readonly code: ErrorCode;
  /** The `ref` of the message that caused it, if it had one. */
  readonly ref?: Ref;

  constructor(code: ErrorCode, message: string, ref?: Ref) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.ref = ref;
  }
}

const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;
// C0 and C1 control characters, plus the Unicode line and paragraph
// separators, which break log lines and UI layout.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const MAX_NAME_LENGTH = 64;
const MAX_REF_LENGTH = 64;
const MAX_TOKEN_LENGTH = 128;
const SIGNAL_KEYS = new Set(["type", "to", "data", "ref"]);

/** Whether `room` is a valid room ID: 1–64 characters of `[A-Za-z0-9_-]`. */
export function isValidRoomId(room: unknown): room is string {
  return typeof room === "string" && ROOM_ID.test(room);
}

/**
 * Whether `text` takes more than `max` bytes in UTF-8. Checks the cheap
 * bounds first, so most frames are never encoded: each UTF-16 code unit
 * encodes to 1-3 bytes.
 */
export function exceedsUtf8Bytes(text: string, max: number): boolean {
  if (text.length > max) return true;
  if (text.length * 3 <= max) return false;
  return new TextEncoder().encode(text).length > max;
}

/**
 * Parses one raw text frame into a typed client message, or throws a
 * {@linkcode ProtocolError} with the code the client should see. The caller
 * checks the frame size before calling this.
 */
export function parseClientMessage(raw: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ProtocolError("bad-message", "Message is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("bad-message", "Message is not a JSON object");
  }
  const msg = value as Record<string, unknown>;
  const ref = parseRef(msg.ref);
  switch (msg.type) {
    case "join":
      return parseJoin(msg, ref);
    case "signal": {
      if (typeof msg.to !== "string" || msg.to.length === 0) {
        throw new ProtocolError(
          "bad-message",
          'Field "to" must be a peer ID',
          ref,
        );
      }
      if (msg.data === undefined || msg.data === null) {
        throw new ProtocolError(
          "bad-message",
          'Field "data" is required',
          ref,
        );
      }
      let plain = true;
      for (const key in msg) {
        if (!SIGNAL_KEYS.has(key)) {
          plain = false;
          break;
        }
      }
      return { type: "signal", to: msg.to, data: msg.data, ref, plain };
    }
    case "leave": {
      if (msg.unload !== undefined && typeof msg.unload !== "boolean") {
        throw new ProtocolError(
          "bad-message",
          'Field "unload" must be true or false',
          ref,
        );
      }
      return msg.unload ? { type: "leave", unload: true, ref } : {
        type: "leave",
        ref,
      };
    }
    case "ping":
      return { type: "ping", ref };
    case "ice-servers":
      return { type: "ice-servers", ref };
    case "lock":
      if (typeof msg.locked !== "boolean") {
        throw new ProtocolError(
          "bad-message",
          'Field "locked" must be true or false',
          ref,
        );
      }
      return { type: "lock", locked: msg.locked, ref };
    case "admit":
    case "deny":
      return {
        type: msg.type,
        knockId: parseId(msg.knockId, "knockId", ref),
        ref,
      };
    case "remove":
      return {
        type: "remove",
        peerId: parseId(msg.peerId, "peerId", ref),
        ref,
      };
    default:
      if (typeof msg.type !== "string") {
        throw new ProtocolError(
          "bad-message",
          'Field "type" must be a string',
          ref,
        );
      }
      throw new ProtocolError(
        "unknown-type",
        `Unknown message type "${msg.type.slice(0, 32)}"`,
        ref,
      );
  }
}

/** An ID the server made: a non-empty string of at most 64 characters. */
function parseId(value: unknown, field: string, ref?: Ref): string {
  if (typeof value === "string" && value.length > 0 && value.length <= 64) {
    return value;
  }
  throw new ProtocolError(
    "bad-message",
    `Field "${field}" must be an ID of 1-64 characters`,
    ref,
  );
}

function parseRef(ref: unknown): Ref | undefined {
  if (ref === undefined) return undefined;
  if (
    (typeof ref === "string" && ref.length <= MAX_REF_LENGTH) ||
    (typeof ref === "number" && Number.isFinite(ref))
  ) {
    return ref;
  }
  throw new ProtocolError(
    "bad-message",
    `Field "ref" must be a number or a string of at most ${MAX_REF_LENGTH} characters`,
  );
}

function parseJoin(msg: Record<string, unknown>, ref?: Ref): JoinMessage {
  if (!isValidRoomId(msg.room)) {
    throw new ProtocolError(
      "invalid-room",
      "Room IDs are 1-64 characters of A-Z, a-z, 0-9, _ and -",
      ref,
    );
  }
  const join: JoinMessage = { type: "join", room: msg.room, ref };
  if (msg.name !== undefined) {
    if (
      typeof msg.name !== "string" || msg.name.length > MAX_NAME_LENGTH ||
      CONTROL.test(msg.name)
    ) {
      throw new ProtocolError(
        "invalid-name",
        `Names are at most ${MAX_NAME_LENGTH} characters without control characters`,
        ref,
      );
    }
    join.name = msg.name.trim();
  }
  if (msg.token !== undefined) {
    if (
      typeof msg.token !== "string" || msg.token.length === 0 ||
      msg.token.length > MAX_TOKEN_LENGTH
    ) {
      throw new ProtocolError(
        "bad-message",
        'Field "token" must be a non-empty string',
        ref,
      );
    }
    join.token = msg.token;
  }
  return join;
}

/**
 * The text of a relayed signal. When the sender's frame held only the known
 * fields, the raw text is forwarded with `from` appended: the payload is never
 * re-serialised, and since the sender could not include a `from` of its own,
 * the stamped one is the only one. Otherwise the message is rebuilt.
 */
export function relayedSignal(
  raw: string,
  msg: SignalMessage,
  from: string,
): string {
  if (msg.plain) {
    const end = raw.lastIndexOf("}");
    return `${raw.slice(0, end)},"from":${JSON.stringify(from)}}`;
  }
  return JSON.stringify({ type: "signal", data: msg.data, from });
}

/** Size limits on the fields of Parley's own signal conventions. */
export interface SignalFieldLimits {
  maxSdpBytes: number;
  maxCandidateBytes: number;
}

/**
 * Checks the two fields of a signal's `data` whose size matters, following
 * the client conventions in `docs/protocol.md` (`description.sdp` and
 * `candidate.candidate`), and says whether the signal carries a candidate.
 * Everything else in `data` stays opaque.
 */
export function inspectSignalData(
  data: unknown,
  limits: SignalFieldLimits,
  ref?: Ref,
): { candidate: boolean } {
  if (typeof data !== "object" || data === null) return { candidate: false };
  const { description, candidate } = data as Record<string, unknown>;
  if (typeof description === "object" && description !== null) {
    const sdp = (description as Record<string, unknown>).sdp;
    if (
      typeof sdp === "string" &&
      exceedsUtf8Bytes(sdp, limits.maxSdpBytes)
    ) {
      throw new ProtocolError(
        "too-large",
        `SDP is larger than ${limits.maxSdpBytes} bytes`,
        ref,
      );
    }
  }
  if (typeof candidate === "object" && candidate !== null) {
    const line = (candidate as Record<string, unknown>).candidate;
    if (
      typeof line === "string" &&
      exceedsUtf8Bytes(line, limits.maxCandidateBytes)
    ) {
      throw new ProtocolError(
        "too-large",
        `ICE candidate is larger than ${limits.maxCandidateBytes} bytes`,
        ref,
      );
    }
  }
  return { candidate: candidate !== undefined && candidate !== null };
}

/** Serialises a server message. */
export function encode(msg: ServerMessage): string {
  return JSON.stringify(msg);
}

/**
 * Parses a frame from the server, or returns undefined for one that is not
 * a message of this protocol (the client ignores those). Checks every field
 * the client reads, so a server change that breaks a field fails here, and
 * a type change fails `deno check` of the client.
 */
export function parseServerMessage(raw: string): ServerMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const m = value;
  if (m.ref !== undefined && !isRef(m.ref)) return undefined;
  switch (m.type) {
    case "joined":
      return isString(m.room) && isString(m.peerId) && isString(m.token) &&
          typeof m.resumed === "boolean" && isPeerList(m.peers) &&
          isIceServers(m.iceServers, m.iceServersTtlMs) &&
          isLimits(m.limits) && isHost(m.host) && typeof m.locked === "boolean"
        ? m as unknown as JoinedMessage
        : undefined;
    case "ice-servers":
      return isIceServers(m.iceServers, m.iceServersTtlMs)
        ? m as unknown as IceServersMessage
        : undefined;
    case "peer-joined":
      return isString(m.peerId) && isString(m.name)
        ? m as unknown as PeerJoinedMessage
        : undefined;
    case "peer-left":
      return isString(m.peerId) ? m as unknown as PeerLeftMessage : undefined;
    case "signal":
      return isString(m.from) && m.data !== undefined &&
          (m.to === undefined || isString(m.to))
        ? m as unknown as RelayedSignalMessage
        : undefined;
    case "error":
      return isString(m.code) && Object.hasOwn(ERROR_CODES, m.code) &&
          isString(m.message)
        ? m as unknown as ErrorMessage
        : undefined;
    case "pong":
      return m as unknown as PongMessage;
    case "room":
      return isHost(m.host) && typeof m.locked === "boolean"
        ? m as unknown as RoomStateMessage
        : undefined;
    case "knocking":
    case "knock-ended":
      return isString(m.knockId)
        ? m as unknown as KnockingMessage | KnockEndedMessage
        : undefined;
    case "knock":
      return isString(m.knockId) && isString(m.name)
        ? m as unknown as KnockMessage
        : undefined;
    default:
      return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

function isHost(value: unknown): value is string | null {
  return value === null || typeof value === "string";
}

function isRef(value: unknown): value is Ref {
  return typeof value === "string" || typeof value === "number";
}

function isPeerList(value: unknown): value is PeerInfo[] {
  return Array.isArray(value) &&
    value.every((p) => isObject(p) && isString(p.peerId) && isString(p.name));
}

function isIceServers(servers: unknown, ttlMs: unknown): boolean {
  return Array.isArray(servers) &&
    servers.every((s) =>
      isObject(s) &&
      (isString(s.urls) || (Array.isArray(s.urls) && s.urls.every(isString)))
    ) &&
    (ttlMs === undefined || typeof ttlMs === "number");
}

const LIMIT_KEYS: readonly (keyof Limits)[] = [
  "maxRoomSize",
  "maxMessageBytes",
  "resumeGraceMs",
  "queueLimit",
  "pingIntervalMs",
];

function isLimits(value: unknown): value is Limits {
  return isObject(value) &&
    LIMIT_KEYS.every((key) => typeof value[key] === "number");
}

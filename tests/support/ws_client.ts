/**
 * A small real-WebSocket client for Parley's protocol tests: a queue of
 * received messages read with {@linkcode TestClient.next}, helpers for the
 * common exchanges, and a bounded wait on every read. Reusable by bench
 * smoke tests, E2E and hardening tests.
 *
 * @module
 */
import { AssertionError } from "node:assert/strict";
import { deadline, DEFAULT_TIMEOUT_MS } from "./wait.ts";
import {
  type ErrorMessage,
  type JoinedMessage,
  parseServerMessage,
  type ServerMessage,
} from "../../signaling/protocol.ts";

/**
 * A frame that is not a message of the protocol (binary, or failing the
 * client's own {@linkcode parseServerMessage}): every typed read fails on it.
 */
export interface InvalidFrame {
  type: "<binary>" | "<invalid>";
  raw?: string;
}

/** A frame from the server: a protocol message, as the browser client reads it. */
export type ServerMsg = ServerMessage | InvalidFrame;

/** The `joined` message. */
export type JoinedMsg = JoinedMessage;

/** The server message of type `T`. */
export type MessageOf<T extends ServerMessage["type"]> = Extract<
  ServerMessage,
  { type: T }
>;

/** How the socket closed. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** Options for {@linkcode TestClient.connect}. */
export interface ConnectOptions {
  /** Extra handshake headers, e.g. `Origin`. @default {{}} */
  headers?: HeadersInit;
  /** @default {DEFAULT_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Used in failure messages. @default {"client"} */
  label?: string;
}

let refCounter = 0;

/** One WebSocket to a Parley server. */
export class TestClient implements AsyncDisposable {
  readonly label: string;
  /** Every text frame received, in order, including ones already read. */
  readonly received: string[] = [];
  /** Settles when the socket has closed, with the close code and reason. */
  readonly closed: Promise<CloseInfo>;
  readonly #ws: WebSocket;
  readonly #queue: ServerMsg[] = [];
  #waiter?: () => void;
  #closeInfo?: CloseInfo;

  private constructor(ws: WebSocket, label: string) {
    this.#ws = ws;
    this.label = label;
    const { promise, resolve } = Promise.withResolvers<CloseInfo>();
    this.closed = promise;
    ws.onmessage = (event) => {
      if (typeof event.data !== "string") {
        this.#queue.push({ type: "<binary>" });
      } else {
        this.received.push(event.data);
        this.#queue.push(
          parseServerMessage(event.data) ??
            { type: "<invalid>", raw: event.data },
        );
      }
      this.#wake();
    };
    ws.onclose = (event) => {
      this.#closeInfo = { code: event.code, reason: event.reason };
      resolve(this.#closeInfo);
      this.#wake();
    };
    ws.onerror = () => {};
  }

  /** Opens a socket to `url` (`ws://host:port/ws`) and waits until it is open. */
  static async connect(
    url: string,
    options: ConnectOptions = {},
  ): Promise<TestClient> {
    const label = options.label ?? "client";
    // Deno takes handshake headers as a non-standard option; the DOM types
    // in this project's lib list do not know it.
    const init = { headers: options.headers ?? {} } as unknown as string[];
    const ws = new WebSocket(url, init);
    const client = new TestClient(ws, label);
    const opened = new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      client.closed.then((info) =>
        reject(
          new Error(
            `${label}: socket to ${url} closed before opening (${info.code})`,
          ),
        )
      );
    });
    try {
      await deadline(opened, `${label}: opening ${url}`, options.timeoutMs);
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  /** The underlying socket, for tests that need the raw API. */
  get socket(): WebSocket {
    return this.#ws;
  }

  /** Whether the close event has arrived. */
  get isClosed(): boolean {
    return this.#closeInfo !== undefined;
  }

  /** Messages received but not yet read. */
  get pending(): readonly ServerMsg[] {
    return this.#queue;
  }

  /** Sends a message (an object is JSON-encoded, a string goes as is). */
  send(msg: unknown): void {
    this.#ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  /** Sends a binary frame. */
  sendBinary(bytes: Uint8Array<ArrayBuffer> = new Uint8Array([1, 2, 3])): void {
    this.#ws.send(bytes);
  }

  /**
   * The next message. With `type`, fails unless the next message has that
   * type (it does not skip others: order is part of the contract).
   */
  async next<T extends ServerMessage["type"]>(
    type: T,
    timeoutMs?: number,
  ): Promise<MessageOf<T>>;
  async next(type?: undefined, timeoutMs?: number): Promise<ServerMsg>;
  async next(
    type?: string,
    timeoutMs: number = DEFAULT_TIMEOUT_MS,
  ): Promise<ServerMsg> {
    const what = `${this.label}: waiting for ${type ?? "a message"}`;
    const msg = await deadline(this.#shift(what), what, timeoutMs);
    if (type !== undefined && msg.type !== type) {
      throw new AssertionError({
        message: `${this.label}: expected "${type}" but got ${
          JSON.stringify(msg)
        }`,
        actual: msg.type,
        expected: type,
        operator: "strictEqual",
      });
    }
    return msg;
  }

  /** The next message, which must be an `error` with `code`. */
  async nextError(
    code: ErrorMessage["code"],
    timeoutMs?: number,
  ): Promise<ErrorMessage> {
    const msg = await this.next("error", timeoutMs);
    if (msg.code !== code) {
      throw new AssertionError({
        message: `${this.label}: expected error "${code}" but got ${
          JSON.stringify(msg)
        }`,
        actual: msg.code,
        expected: code,
        operator: "strictEqual",
      });
    }
    return msg;
  }

  /** Sends `join` and returns the `joined` answer. */
  async join(
    room: string,
    fields: { name?: string; token?: string; ref?: string | number } = {},
  ): Promise<JoinedMsg> {
    this.send({ type: "join", room, ...fields });
    return await this.next("joined");
  }

  /** Relays `data` to peer `to`. */
  signal(to: string, data: unknown): void {
    this.send({ type: "signal", to, data });
  }

  /**
   * Proves that nothing else is waiting for this client: sends a `ping` and
   * requires the very next message to be its `pong`. The server answers in
   * order on one socket, so anything sent to this client before the ping was
   * handled would arrive first.
   */
  async expectNothingElse(): Promise<void> {
    const ref = `barrier-${++refCounter}`;
    this.send({ type: "ping", ref });
    const msg = await this.next("pong");
    if (msg.ref !== ref) {
      throw new AssertionError({
        message: `${this.label}: pong for another ping: ${JSON.stringify(msg)}`,
        actual: msg.ref,
        expected: ref,
        operator: "strictEqual",
      });
    }
  }

  /** Waits for the close event (it must come within `timeoutMs`). */
  async waitClose(timeoutMs: number = DEFAULT_TIMEOUT_MS): Promise<CloseInfo> {
    return await deadline(
      this.closed,
      `${this.label}: waiting for the socket to close`,
      timeoutMs,
    );
  }

  /** Closes the socket (if open) and waits for the close event. */
  async close(code = 1000, reason = ""): Promise<void> {
    if (this.#closeInfo) return;
    try {
      this.#ws.close(code, reason);
    } catch {
      // Already closing.
    }
    await this.waitClose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #shift(what: string): Promise<ServerMsg> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const msg = this.#queue.shift();
        if (msg) {
          this.#waiter = undefined;
          resolve(msg);
        } else if (this.#closeInfo) {
          this.#waiter = undefined;
          reject(
            new Error(
              `${what}: socket closed with ${this.#closeInfo.code} ${this.#closeInfo.reason}`,
            ),
          );
        } else {
          this.#waiter = attempt;
        }
      };
      attempt();
    });
  }

  #wake(): void {
    this.#waiter?.();
  }
}

/** Peers that joined one room, in join order, with their queues drained. */
export interface JoinedPeers extends AsyncDisposable {
  readonly clients: TestClient[];
  readonly joined: JoinedMsg[];
  /** Peer IDs in join order. */
  readonly ids: string[];
  /** Closes every socket. */
  close(): Promise<void>;
}

/**
 * Connects and joins `names.length` peers to `room`, one after another, and
 * reads the `peer-joined` each earlier peer gets, so every queue starts empty.
 */
export async function joinPeers(
  wsUrl: string,
  room: string,
  names: readonly string[],
): Promise<JoinedPeers> {
  const clients: TestClient[] = [];
  const joined: JoinedMsg[] = [];
  const close = async () => {
    await Promise.all(clients.map((c) => c.close()));
  };
  try {
    for (const name of names) {
      const client = await TestClient.connect(wsUrl, { label: name });
      clients.push(client);
      const msg = await client.join(room, { name });
      for (const earlier of clients.slice(0, -1)) {
        const note = await earlier.next("peer-joined");
        if (note.peerId !== msg.peerId) {
          throw new Error(`${earlier.label}: peer-joined for another peer`);
        }
      }
      joined.push(msg);
    }
  } catch (error) {
    await close();
    throw error;
  }
  return {
    clients,
    joined,
    ids: joined.map((j) => j.peerId),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Two peers in their own room exchanging numbered signals: a bystander that
 * must keep working while another socket misbehaves.
 */
export class ControlRoom implements AsyncDisposable {
  readonly #peers: JoinedPeers;
  #n = 0;

  private constructor(peers: JoinedPeers) {
    this.#peers = peers;
  }

  /** Joins two peers to a fresh room on `wsUrl`. */
  static async open(
    wsUrl: string,
    room = "control-room",
  ): Promise<ControlRoom> {
    return new ControlRoom(
      await joinPeers(wsUrl, room, ["control-a", "control-b"]),
    );
  }

  /**
   * Sends the next numbered signal each way and checks each arrives, from
   * the right sender, and that nothing else did.
   */
  async check(): Promise<void> {
    const [a, b] = this.#peers.clients;
    const [idA, idB] = this.#peers.ids;
    const n = ++this.#n;
    a.signal(idB, { seq: n });
    b.signal(idA, { seq: n });
    for (const [client, from] of [[b, idA], [a, idB]] as const) {
      const msg = await client.next("signal");
      if (msg.from !== from || (msg.data as { seq?: number })?.seq !== n) {
        throw new AssertionError({
          message: `${client.label}: expected signal ${n} from ${from}, got ${
            JSON.stringify(msg)
          }`,
          actual: msg,
          expected: { from, data: { seq: n } },
          operator: "deepStrictEqual",
        });
      }
      await client.expectNothingElse();
    }
  }

  /** Closes both sockets. */
  close(): Promise<void> {
    return this.#peers.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

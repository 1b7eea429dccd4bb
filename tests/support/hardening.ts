/**
 * Helpers for the hardening, fault and fuzz tests: a raw WebSocket client
 * over TCP that can write frames no conforming client would (reserved bits,
 * bad opcodes, unmasked, fragments) and stop reading at will; a raw HTTP
 * request that returns status and headers; a seeded PRNG; process memory.
 *
 * @module
 */
import { deadline, DEFAULT_TIMEOUT_MS } from "./wait.ts";
import { handshakeHeaders, request } from "./http.ts";

export type { RawResponse } from "./http.ts";
export { rawResponse } from "./http.ts";

/** WebSocket opcodes (RFC 6455 §5.2). */
export const OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** One frame as read from the server. */
export interface RawFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** Options of {@linkcode RawWebSocket.sendFrame}. */
export interface FrameOptions {
  /** @default {true} */
  fin?: boolean;
  /** The three reserved bits, as a number 0–7. @default {0} */
  rsv?: number;
  /** Mask the payload, as a client must. @default {true} */
  mask?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes one WebSocket frame. */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  { fin = true, rsv = 0, mask = true }: FrameOptions = {},
): Uint8Array<ArrayBuffer> {
  const len = payload.length;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = 2 + lenBytes + (mask ? 4 : 0);
  const frame = new Uint8Array(head + len);
  frame[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0xf);
  const maskBit = mask ? 0x80 : 0;
  const view = new DataView(frame.buffer);
  if (lenBytes === 0) frame[1] = maskBit | len;
  else if (lenBytes === 2) {
    frame[1] = maskBit | 126;
    view.setUint16(2, len);
  } else {
    frame[1] = maskBit | 127;
    view.setBigUint64(2, BigInt(len));
  }
  if (mask) {
    const key = crypto.getRandomValues(new Uint8Array(4));
    frame.set(key, 2 + lenBytes);
    for (let i = 0; i < len; i++) frame[head + i] = payload[i] ^ key[i & 3];
  } else {
    frame.set(payload, head);
  }
  return frame;
}

/**
 * A WebSocket client on a bare TCP connection. It reads only when asked,
 * so a test can make the server's send buffer grow by not asking.
 */
export class RawWebSocket {
  readonly #conn: Deno.TcpConn;
  #buffer: Uint8Array = new Uint8Array(0);
  #eof = false;
  #closed = false;

  private constructor(conn: Deno.TcpConn, rest: Uint8Array) {
    this.#conn = conn;
    this.#buffer = rest;
  }

  /** Opens a socket to `127.0.0.1:port/ws`; fails unless the answer is 101. */
  static async open(
    port: number,
    { headers = handshakeHeaders() }: { headers?: Record<string, string> } = {},
  ): Promise<RawWebSocket> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const { response, rest } = await request(
        conn,
        port,
        "GET",
        "/ws",
        headers,
      );
      if (response.status !== 101) {
        throw new Error(`Handshake answered ${response.status}, not 101`);
      }
      return new RawWebSocket(conn, rest);
    } catch (error) {
      conn.close();
      throw error;
    }
  }

  /** Writes one frame. */
  async sendFrame(
    opcode: number,
    payload: Uint8Array | string,
    options?: FrameOptions,
  ): Promise<void> {
    const bytes = typeof payload === "string"
      ? encoder.encode(payload)
      : payload;
    await this.write(encodeFrame(opcode, bytes, options));
  }

  /** Writes raw bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  /** Sends a JSON message (or a string as is) in one text frame. */
  async send(msg: unknown): Promise<void> {
    await this.sendFrame(
      OPCODE.text,
      typeof msg === "string" ? msg : JSON.stringify(msg),
    );
  }

  /** The next frame, or null once the server closed the connection. */
  async readFrame(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RawFrame | null> {
    return await deadline(this.#readFrame(), "a frame", timeoutMs);
  }

  /** The next text message, parsed; pings are skipped. Fails on close. */
  async next(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Record<string, unknown>> {
    while (true) {
      const frame = await this.readFrame(timeoutMs);
      if (frame === null) throw new Error("raw socket: connection ended");
      if (frame.opcode === OPCODE.close) {
        throw new Error(`raw socket: closed with ${closeCodeOf(frame)}`);
      }
      if (frame.opcode === OPCODE.text) {
        return JSON.parse(decoder.decode(frame.payload));
      }
    }
  }

  /**
   * Reads until the server ends the connection, and returns the code of the
   * close frame it sent, if any (undefined when the TCP connection just
   * ended). Text frames on the way are counted.
   */
  async waitEnd(
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<{ code?: number; texts: number }> {
    let texts = 0;
    let code: number | undefined;
    const end = Date.now() + timeoutMs;
    while (true) {
      const frame = await this.readFrame(Math.max(1, end - Date.now()));
      if (frame === null) return { code, texts };
      if (frame.opcode === OPCODE.text) texts++;
      if (frame.opcode === OPCODE.close) {
        code = closeCodeOf(frame);
        // Answer it, as a client would, so the server can finish.
        await this.sendFrame(OPCODE.close, frame.payload.subarray(0, 2)).catch(
          () => {},
        );
      }
    }
  }

  /** Closes the TCP connection (no close frame). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #fill(min: number): Promise<boolean> {
    while (this.#buffer.length < min) {
      if (this.#eof) return false;
      const chunk = new Uint8Array(65536);
      let n: number | null;
      try {
        n = await this.#conn.read(chunk);
      } catch {
        n = null;
      }
      if (n === null) {
        this.#eof = true;
        return false;
      }
      const next = new Uint8Array(this.#buffer.length + n);
      next.set(this.#buffer);
      next.set(chunk.subarray(0, n), this.#buffer.length);
      this.#buffer = next;
    }
    return true;
  }

  async #readFrame(): Promise<RawFrame | null> {
    if (!await this.#fill(2)) return null;
    const b0 = this.#buffer[0];
    const b1 = this.#buffer[1];
    let len = b1 & 0x7f;
    let head = 2;
    if (len === 126) {
      if (!await this.#fill(4)) return null;
      len = new DataView(this.#buffer.buffer, this.#buffer.byteOffset)
        .getUint16(2);
      head = 4;
    } else if (len === 127) {
      if (!await this.#fill(10)) return null;
      len = Number(
        new DataView(this.#buffer.buffer, this.#buffer.byteOffset)
          .getBigUint64(2),
      );
      head = 10;
    }
    if (b1 & 0x80) head += 4; // A server never masks, but skip a key anyway.
    if (!await this.#fill(head + len)) return null;
    const payload = this.#buffer.slice(head, head + len);
    this.#buffer = this.#buffer.slice(head + len);
    return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload };
  }
}

function closeCodeOf(frame: RawFrame): number | undefined {
  if (frame.payload.length < 2) return undefined;
  return (frame.payload[0] << 8) | frame.payload[1];
}

/** A small seeded PRNG (mulberry32): the same seed gives the same stream. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The resident set size of process `pid`, in bytes, as `ps` reports it
 * (Deno lets a test read `/proc/<pid>` only with every permission).
 */
export async function rssOf(pid: number): Promise<number> {
  const { stdout, success } = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  const kib = Number(new TextDecoder().decode(stdout).trim());
  if (!success || !Number.isFinite(kib) || kib <= 0) {
    throw new Error(`No RSS for process ${pid}`);
  }
  return kib * 1024;
}

/** `/health` as JSON, with its status code. */
export async function health(
  origin: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${origin}/health`);
  return { status: res.status, body: await res.json() };
}

/** `n` megabytes, for messages about memory. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

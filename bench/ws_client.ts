/**
 * A minimal WebSocket client for the load generator, on `Deno.connect` with
 * `TCP_NODELAY` set. Deno's built-in `WebSocket` client turns Nagle's
 * algorithm on (it calls `setsockopt(TCP_NODELAY, 0)`), which together with
 * delayed ACKs holds small frames for up to 40 ms on a busy socket; browsers
 * turn it off, and so does the Deno server side, so the generator must too
 * or it would measure its own stalls.
 *
 * Text frames only (what Parley speaks), a zero masking key (valid framing,
 * and it makes masking free), answers to pings, and frames sent in the same
 * task coalesced into one write.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const READ_BUFFER_BYTES = 16 * 1024;
const CLOSE_TIMEOUT_MS = 3000;
// A fixed key is fine: the server only checks its shape.
const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** One client connection speaking WebSocket text frames. */
export class RawWebSocket {
  readonly #conn: Deno.TcpConn;
  #queue: Uint8Array<ArrayBuffer>[] = [];
  #flushing = false;
  #closed = false;
  /** Called with each text message. */
  onmessage: (text: string) => void = () => {};
  /** Called once when the connection ends, whoever ended it. */
  onclose: () => void = () => {};

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects to a `ws://host:port/path` URL and completes the handshake. */
  static async connect(url: string): Promise<RawWebSocket> {
    const { hostname, port, pathname } = new URL(url);
    const conn = await Deno.connect({ hostname, port: Number(port) });
    conn.setNoDelay(true);
    const socket = new RawWebSocket(conn);
    try {
      await writeAll(
        conn,
        encoder.encode(
          `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
            `Upgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      const rest = await readHandshake(conn);
      socket.#readLoop(rest);
    } catch (error) {
      conn.close();
      throw error;
    }
    return socket;
  }

  /** Queues a text frame; frames queued in one task go out in one write. */
  send(text: string): void {
    if (this.#closed) return;
    const payload = encoder.encode(text);
    this.#queue.push(frame(0x1, payload));
    if (!this.#flushing) {
      this.#flushing = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /**
   * Starts the closing handshake: sends a close frame and waits for the
   * server to close the TCP connection, so that the server, not this
   * client, holds the TIME_WAIT state. Thousands of client-side TIME_WAIT
   * sockets would slow every later connect's search for a free port.
   * Forces the close after a few seconds. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#queue.push(frame(0x8, new Uint8Array([0x03, 0xe8])));
    if (!this.#flushing) {
      this.#flushing = true;
      this.#flush();
    }
    this.#closed = true;
    const timer = setTimeout(() => this.#end(), CLOSE_TIMEOUT_MS);
    Deno.unrefTimer(timer);
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const chunks = this.#queue;
        this.#queue = [];
        await writeAll(this.#conn, concat(chunks));
      }
    } catch {
      this.#end();
      return;
    } finally {
      this.#flushing = false;
    }
  }

  #ended = false;
  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this.onclose();
  }

  async #readLoop(initial: Uint8Array<ArrayBuffer>): Promise<void> {
    let pending: Uint8Array<ArrayBuffer> = initial;
    let fragments: Uint8Array<ArrayBuffer>[] = [];
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      while (true) {
        // Parse every complete frame in `pending`.
        let at = 0;
        while (pending.length - at >= 2) {
          const b0 = pending[at];
          let len = pending[at + 1] & 0x7f;
          let head = 2;
          if (len === 126) {
            if (pending.length - at < 4) break;
            len = (pending[at + 2] << 8) | pending[at + 3];
            head = 4;
          } else if (len === 127) {
            if (pending.length - at < 10) break;
            len = Number(
              new DataView(pending.buffer, pending.byteOffset + at + 2, 8)
                .getBigUint64(0),
            );
            head = 10;
          }
          if (pending.length - at < head + len) break;
          const payload = pending.subarray(at + head, at + head + len);
          at += head + len;
          const opcode = b0 & 0x0f;
          const fin = (b0 & 0x80) !== 0;
          if (opcode === 0x1 || opcode === 0x0) {
            if (fin && fragments.length === 0) {
              this.onmessage(decoder.decode(payload));
            } else {
              fragments.push(payload.slice());
              if (fin) {
                this.onmessage(decoder.decode(concat(fragments)));
                fragments = [];
              }
            }
          } else if (opcode === 0x9) {
            this.#queue.push(frame(0xa, payload.slice()));
            if (!this.#flushing) {
              this.#flushing = true;
              queueMicrotask(() => this.#flush());
            }
          } else if (opcode === 0x8) {
            // Answer the server's close; then the server closes the TCP
            // connection and the read below returns null.
            if (!this.#closed) this.close();
          }
        }
        pending = at === pending.length ? new Uint8Array(0) : pending.slice(at);
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        pending = pending.length === 0
          ? buffer.slice(0, n)
          : concat([pending, buffer.subarray(0, n)]);
      }
    } catch {
      // Reset or closed locally: either way the connection is over.
    }
    this.#end();
  }
}

/** A masked client frame with a zero key. */
function frame(
  opcode: number,
  payload: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = new Uint8Array(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (head === 2) {
    out[1] = 0x80 | len;
  } else if (head === 4) {
    out[1] = 0x80 | 126;
    out[2] = len >> 8;
    out[3] = len & 0xff;
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(len));
  }
  // Bytes head..head+3 are the masking key, left zero: XOR with 0 is a no-op.
  out.set(payload, head + 4);
  return out;
}

function concat(chunks: Uint8Array<ArrayBuffer>[]): Uint8Array<ArrayBuffer> {
  if (chunks.length === 1) return chunks[0];
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/** Reads the HTTP response to the upgrade; returns bytes read past it. */
async function readHandshake(
  conn: Deno.Conn,
): Promise<Uint8Array<ArrayBuffer>> {
  const buffer = new Uint8Array(4096);
  let text = "";
  let bytes: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("connection closed during handshake");
    bytes = concat([bytes, buffer.slice(0, n)]);
    // Headers are ASCII, so string offsets are byte offsets.
    text = new TextDecoder("latin1").decode(bytes);
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) {
      if (bytes.length > 16 * 1024) throw new Error("handshake too long");
      continue;
    }
    if (!text.startsWith("HTTP/1.1 101")) {
      throw new Error(
        `upgrade refused: ${text.slice(0, text.indexOf("\r\n"))}`,
      );
    }
    return bytes.slice(end + 4);
  }
}

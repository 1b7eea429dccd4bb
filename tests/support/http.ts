/**
 * Raw HTTP/1.1 over TCP, for WebSocket handshakes that `fetch` and
 * `WebSocket` will not send (wrong version, wrong method, foreign Origin)
 * and for reading the exact status of an upgrade.
 *
 * @module
 */
import { deadline } from "./wait.ts";

/** A valid `Sec-WebSocket-Key` (16 bytes in base64). */
export const VALID_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** The headers of a valid handshake; override or drop (`null`) any. */
export function handshakeHeaders(
  overrides: Record<string, string | null> = {},
): Record<string, string> {
  const headers: Record<string, string | null> = {
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": VALID_KEY,
    "Sec-WebSocket-Version": "13",
    ...overrides,
  };
  return Object.fromEntries(
    Object.entries(headers).filter((e): e is [string, string] => e[1] !== null),
  );
}

/** An HTTP answer read off a raw connection. */
export interface RawResponse {
  status: number;
  headers: Headers;
}

/** Writes one request on `conn` and reads the answer's status and headers. */
export async function request(
  conn: Deno.TcpConn,
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ response: RawResponse; rest: Uint8Array }> {
  const lines = [
    `${method} ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ];
  const bytes = new TextEncoder().encode(lines.join("\r\n"));
  let offset = 0;
  while (offset < bytes.length) {
    offset += await conn.write(bytes.subarray(offset));
  }
  let received = new Uint8Array(0);
  const chunk = new Uint8Array(16384);
  let end = -1;
  while (end < 0) {
    const n = await deadline(conn.read(chunk), `response to ${method} ${path}`);
    if (n === null) {
      throw new Error(
        `Connection ended before a response to ${method} ${path}`,
      );
    }
    const next = new Uint8Array(received.length + n);
    next.set(received);
    next.set(chunk.subarray(0, n), received.length);
    received = next;
    end = indexOfHeaderEnd(received);
  }
  const text = new TextDecoder().decode(received.subarray(0, end));
  const [statusLine, ...headerLines] = text.split("\r\n");
  const match = /^HTTP\/1\.1 (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`Not an HTTP response: ${statusLine}`);
  const parsed = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      parsed.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
  }
  return {
    response: { status: Number(match[1]), headers: parsed },
    rest: received.slice(end + 4),
  };
}

function indexOfHeaderEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (
      bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 &&
      bytes[i + 3] === 10
    ) return i;
  }
  return -1;
}

/**
 * Sends one request to `127.0.0.1:port` and returns the status and headers
 * of the answer; the connection is closed afterwards (an accepted upgrade
 * thus ends at once). Null when the server closed the connection without
 * an answer.
 */
export async function rawResponse(
  port: number,
  { method = "GET", path = "/ws", headers = handshakeHeaders() }: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<RawResponse | null> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    return (await request(conn, port, method, path, headers)).response;
  } catch (error) {
    if (
      error instanceof Error && error.message.startsWith("Connection ended")
    ) return null;
    if (error instanceof Deno.errors.ConnectionReset) return null;
    throw error;
  } finally {
    conn.close();
  }
}

/**
 * Sends one request and returns the status code of the answer (101 for an
 * accepted upgrade); fails if the server closed without answering.
 */
export async function rawStatus(
  port: number,
  options: Parameters<typeof rawResponse>[1] = {},
): Promise<number> {
  const response = await rawResponse(port, options);
  if (!response) throw new Error("The server closed without an answer");
  return response.status;
}

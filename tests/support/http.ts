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

/**
 * Sends one request to `127.0.0.1:port` and returns the status code of the
 * answer (101 for an accepted upgrade). The connection is closed after the
 * status line.
 */
export async function rawStatus(
  port: number,
  { method = "GET", path = "/ws", headers = handshakeHeaders() }: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const lines = [
      `${method} ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n")));
    let text = "";
    const buffer = new Uint8Array(4096);
    while (!text.includes("\r\n")) {
      const n = await deadline(
        conn.read(buffer),
        `response to ${method} ${path}`,
      );
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
    if (!match) {
      throw new Error(`Not an HTTP response: ${JSON.stringify(text)}`);
    }
    return Number(match[1]);
  } finally {
    conn.close();
  }
}

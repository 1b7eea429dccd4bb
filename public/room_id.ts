/**
 * Room IDs: generating unguessable ones and reading them from the page URL.
 * A room ID is a bearer secret (whoever knows it can join), so generated IDs
 * carry 128 random bits.
 *
 * @module
 */

/** The characters and length the server accepts for a room ID. */
export const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Creates a room ID: 128 random bits as 22 base64url characters. */
export function createRoomId(
  randomBytes: (bytes: Uint8Array<ArrayBuffer>) => void = (b) =>
    crypto.getRandomValues(b),
): string {
  const bytes = new Uint8Array(16);
  randomBytes(bytes);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/** Whether `room` is a room ID the server accepts. */
export function isValidRoom(room: string): boolean {
  return ROOM_PATTERN.test(room);
}

/** The room of a `/r/<room>` path, or an empty string for any other path. */
export function roomFromPath(pathname: string): string {
  const match = /^\/r\/([A-Za-z0-9_-]{1,64})\/?$/.exec(pathname);
  return match ? match[1] : "";
}

/** The shareable link of `room` on `origin`. */
export function roomLink(origin: string, room: string): string {
  return `${origin}/r/${encodeURIComponent(room)}`;
}

/**
 * Display names. A peer that gave no name gets a default made from its
 * peer ID (an adjective and an animal), so every member of the room shows
 * it the same way without anyone telling the others; the server still
 * validates and limits the names people type.
 *
 * @module
 */

const ADJECTIVES = [
  "Amber",
  "Brave",
  "Bright",
  "Calm",
  "Clever",
  "Coral",
  "Cosy",
  "Curious",
  "Daring",
  "Eager",
  "Gentle",
  "Golden",
  "Happy",
  "Jolly",
  "Keen",
  "Kind",
  "Lively",
  "Lucky",
  "Merry",
  "Mellow",
  "Nimble",
  "Plucky",
  "Quiet",
  "Rapid",
  "Rosy",
  "Silver",
  "Sunny",
  "Swift",
  "Tidy",
  "Witty",
  "Zesty",
  "Misty",
] as const;

const ANIMALS = [
  "Badger",
  "Bear",
  "Beaver",
  "Bison",
  "Crane",
  "Deer",
  "Dolphin",
  "Eagle",
  "Falcon",
  "Ferret",
  "Finch",
  "Fox",
  "Gecko",
  "Heron",
  "Ibis",
  "Koala",
  "Lemur",
  "Lynx",
  "Marten",
  "Moose",
  "Newt",
  "Otter",
  "Owl",
  "Panda",
  "Puffin",
  "Quail",
  "Raven",
  "Robin",
  "Seal",
  "Stoat",
  "Swan",
  "Wren",
] as const;

/** FNV-1a over the ID's UTF-16 units: small, stable, well spread. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The default name of the peer `peerId`, e.g. "Calm Otter". */
export function defaultName(peerId: string): string {
  if (!peerId) return "Guest";
  const h = hash(peerId);
  return `${ADJECTIVES[h % ADJECTIVES.length]} ${
    ANIMALS[(h >>> 5) % ANIMALS.length]
  }`;
}

/** The name to show for a peer: its own, else its default. */
export function displayName(name: string, peerId: string): string {
  return name.trim() || defaultName(peerId);
}

/** Up to two initials for an avatar ("Grace Hopper" → "GH"). */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => Array.from(w)[0] ?? "");
  return letters.join("").toLocaleUpperCase() || "?";
}

/** Avatar colours there are (`hue-0` … in the styles). */
const HUES = 6;

/** The avatar colour of a peer: the same in every member's view. */
export function hueOf(peerId: string): number {
  return hash(peerId) % HUES;
}

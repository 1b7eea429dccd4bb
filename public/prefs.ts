/**
 * Preferences remembered across visits in `localStorage` (display name,
 * audio processing and the noise filter, devices, private mode), read defensively: storage may be
 * unavailable or hold garbage.
 *
 * @module
 */

const KEY = "parley.prefs";

/** What Parley remembers between visits. */
export interface Prefs {
  name: string;
  echoCancellation: boolean;
  noiseSuppression: boolean;
  autoGainControl: boolean;
  /** RNNoise on the microphone (opt-in; see `noise_filter.ts`). */
  noiseFilter: boolean;
  pushToTalk: boolean;
  privateMode: boolean;
  micId: string;
  speakerId: string;
}

/** The preferences of a first visit. */
export const DEFAULT_PREFS: Readonly<Prefs> = {
  name: "",
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
  noiseFilter: false,
  pushToTalk: false,
  privateMode: false,
  micId: "",
  speakerId: "",
};

/** Merges stored JSON over the defaults, keeping only well-typed fields. */
export function parsePrefs(raw: string | null): Prefs {
  const prefs: Prefs = { ...DEFAULT_PREFS };
  if (!raw) return prefs;
  let stored: unknown;
  try {
    stored = JSON.parse(raw);
  } catch {
    return prefs;
  }
  if (typeof stored !== "object" || stored === null) return prefs;
  const record = prefs as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(stored)) {
    if (key in prefs && typeof value === typeof record[key]) {
      record[key] = value;
    }
  }
  return prefs;
}

/** Reads the stored preferences. */
export function loadPrefs(storage: Storage | undefined = safeLocal()): Prefs {
  try {
    return parsePrefs(storage?.getItem(KEY) ?? null);
  } catch {
    return { ...DEFAULT_PREFS };
  }
}

/** Stores `prefs`; quietly does nothing when storage is unavailable. */
export function savePrefs(
  prefs: Prefs,
  storage: Storage | undefined = safeLocal(),
): void {
  try {
    storage?.setItem(KEY, JSON.stringify(prefs));
  } catch {
    // Private browsing or a full quota: preferences just are not kept.
  }
}

function safeLocal(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}

/** A resumable session of this tab (kept in `sessionStorage`). */
export interface StoredSession {
  room: string;
  token: string;
  name: string;
}

const SESSION_KEY = "parley.session";

/** Reads this tab's session, if any. */
export function loadSession(): StoredSession | undefined {
  try {
    const raw = globalThis.sessionStorage?.getItem(SESSION_KEY);
    const value = raw ? JSON.parse(raw) : undefined;
    if (
      value && typeof value.room === "string" &&
      typeof value.token === "string" && typeof value.name === "string"
    ) return value;
  } catch {
    // Unavailable or corrupt: no session.
  }
  return undefined;
}

/** Stores (or with `undefined`, forgets) this tab's session. */
export function saveSession(session: StoredSession | undefined): void {
  try {
    if (session) {
      globalThis.sessionStorage?.setItem(SESSION_KEY, JSON.stringify(session));
    } else globalThis.sessionStorage?.removeItem(SESSION_KEY);
  } catch {
    // Unavailable: a reload then joins afresh.
  }
}

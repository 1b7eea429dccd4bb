/**
 * Bounded waiting for tests: every wait has a deadline and fails with a
 * message saying what it was waiting for, instead of hanging the run.
 *
 * @module
 */

/** The default deadline of a wait, generous for a loaded 2-core machine. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Resolves like `promise`, or rejects after `timeoutMs` with an error that
 * names `what`. The timer is always cleared, so no op leaks into the
 * sanitizers.
 */
export async function deadline<T>(
  promise: Promise<T>,
  what: string,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${timeoutMs} ms: ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms` (only for polling; tests never assert timings). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than
 * `undefined`/`false`, and returns it; fails after `timeoutMs`.
 */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  { timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = 25 } = {},
): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= end) {
      throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    }
    await delay(intervalMs);
  }
}

/** A clock tests move by hand; pass `clock.now` where `now` is injected. */
export class FakeClock {
  #ms: number;

  constructor(startMs = 1_700_000_000_000) {
    this.#ms = startMs;
  }

  /** The current fake time; bound, so it can be passed as `now`. */
  readonly now = (): number => this.#ms;

  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.#ms += ms;
  }
}

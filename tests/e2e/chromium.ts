/**
 * Where the E2E tests find Chromium. Kept apart from `browser.ts` so the
 * test file can check prerequisites without loading playwright-core (which
 * probes the system at import time and needs more permissions than
 * `deno task test` grants; the scenarios run with `-A` in their namespace).
 *
 * @module
 */

/** The Chromium binary (the Debian wrapper's target). */
export const CHROMIUM = "/usr/lib/chromium/chromium";

/**
 * Where the tests find the browsers. Kept apart from the launchers so a test
 * file can check prerequisites without loading playwright-core or
 * puppeteer-core (which probe the system at import time and need more
 * permissions than `deno task test` grants; the scenarios run with `-A` in
 * their namespace).
 *
 * @module
 */

/** The Chromium binary (the Debian wrapper's target). */
export const CHROMIUM = "/usr/lib/chromium/chromium";

/** The Debian Firefox ESR binary (the wrapper's target). */
export const FIREFOX = "/usr/lib/firefox-esr/firefox-esr";

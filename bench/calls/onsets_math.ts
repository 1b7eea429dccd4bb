/**
 * Mouth-to-ear latency from onset stamps (pure): each page stamps the clicks
 * it sends (mouth) and the clicks it hears (ear) with `Date.now()`, one host
 * and one clock; an ear stamp's latency is its distance to the latest mouth
 * stamp of the other page before it.
 *
 * @module
 */

/** Latencies (ms) of `ear` stamps against the `mouth` stamps before them. */
export function mouthToEar(
  mouth: readonly number[],
  ear: readonly number[],
  { maxMs = 450 }: { maxMs?: number } = {},
): number[] {
  const sent = [...mouth].sort((a, b) => a - b);
  const out: number[] = [];
  let i = 0;
  for (const heard of [...ear].sort((a, b) => a - b)) {
    while (i + 1 < sent.length && sent[i + 1] <= heard) i++;
    if (sent.length === 0 || sent[i] > heard) continue;
    const latency = heard - sent[i];
    // Longer than a click period apart: the matching click was missed.
    if (latency <= maxMs) out.push(latency);
  }
  return out;
}

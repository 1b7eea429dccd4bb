/**
 * A sparkline: the last minute of one measure as an inline SVG polyline,
 * scaled to its own range (at least `floor`, so small noise stays flat).
 * Gaps in the data break the line. No chart library: a few dozen bytes.
 *
 * @module
 */

/** Width of the drawing in samples (one a second: a minute). */
const SLOTS = 60;
const HEIGHT = 20;

/** Polyline point lists for `values` (undefined breaks the line). */
export function sparkPoints(
  values: readonly (number | undefined)[],
  floor: number,
): string[] {
  const recent = values.slice(-SLOTS);
  const max = Math.max(floor, ...recent.filter((v) => v !== undefined));
  const offset = SLOTS - recent.length;
  const lines: string[] = [];
  let current: string[] = [];
  recent.forEach((v, i) => {
    if (v === undefined) {
      if (current.length) lines.push(current.join(" "));
      current = [];
      return;
    }
    const y = HEIGHT - 1 - Math.min(v, max) / max * (HEIGHT - 2);
    current.push(`${offset + i},${y.toFixed(1)}`);
  });
  if (current.length) lines.push(current.join(" "));
  return lines;
}

/** One measure's last minute, drawn; `label` says what it is. */
export function Sparkline(
  { values, floor, label }: {
    values: readonly (number | undefined)[];
    floor: number;
    label: string;
  },
) {
  return (
    <svg
      class="spark"
      viewBox={`0 0 ${SLOTS - 1} ${HEIGHT}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
    >
      {sparkPoints(values, floor).map((points) => (
        <polyline key={points} points={points} />
      ))}
    </svg>
  );
}

/**
 * Markdown tables of the call lab's figures (pure): one row per condition,
 * Parley's tuned audio path beside browser defaults.
 *
 * @module
 */
import type { ConditionFigures } from "./figures.ts";

/** Figures of one or more runs: variant → condition → one entry per run. */
export type RunFigures = Record<
  string,
  Record<string, ConditionFigures | undefined> | undefined
>;

/** Conditions in table order, with their labels. */
export const CONDITION_LABELS: [string, string][] = [
  ["clean", "clean"],
  ["loss5", "5% loss"],
  ["loss10", "10% loss"],
  ["loss20", "20% loss"],
  ["delay40", "40 ± 10 ms one way"],
  ["delay100", "100 ± 30 ms one way"],
  ["rate64", "64 kbit/s each way (tbf)"],
];

/** `x` with `digits` decimals, or "–" when not measured. */
export function fmt(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
}

/** "a – b" over runs, or one value when all runs agree (or one run). */
export function range(values: (number | undefined)[], digits = 1): string {
  const xs = values.filter((v): v is number =>
    v !== undefined && Number.isFinite(v)
  );
  if (xs.length === 0) return "–";
  const lo = Math.min(...xs), hi = Math.max(...xs);
  return fmt(lo, digits) === fmt(hi, digits)
    ? fmt(lo, digits)
    : `${fmt(lo, digits)}–${fmt(hi, digits)}`;
}

function pick(
  runs: RunFigures[],
  variant: string,
  condition: string,
  key: keyof ConditionFigures,
): (number | undefined)[] {
  return runs.map((r) => r[variant]?.[condition]?.[key]);
}

/** The main table: concealment, loss, jitter buffer, FEC and send rate. */
export function qualityTable(runs: RunFigures[]): string {
  const rows = [
    "| condition | concealed % tuned | concealed % defaults | loss % | jitter buffer ms tuned / defaults | FEC packets/s tuned / defaults | sent kbit/s tuned / defaults | STOI tuned / defaults |",
    "| --- | --: | --: | --: | --: | --: | --: | --: |",
  ];
  for (const [name, label] of CONDITION_LABELS) {
    const get = (variant: string, key: keyof ConditionFigures, d = 1) =>
      range(pick(runs, variant, name, key), d);
    rows.push(
      `| ${label} | ${get("tuned", "concealedPercent", 2)} | ${
        get("defaults", "concealedPercent", 2)
      } | ${get("tuned", "lossPercent")} / ${
        get("defaults", "lossPercent")
      } | ${get("tuned", "jitterBufferMs", 0)} / ${
        get("defaults", "jitterBufferMs", 0)
      } | ${get("tuned", "fecPerSec")} / ${get("defaults", "fecPerSec")} | ${
        get("tuned", "sendKbps")
      } / ${get("defaults", "sendKbps")} | ${get("tuned", "stoi", 2)} / ${
        get("defaults", "stoi", 2)
      } |`,
    );
  }
  return rows.join("\n");
}

/** Recovery after the outage, join to first audio and latency. */
export function eventsTable(runs: RunFigures[]): string {
  const rows = [
    "| figure | tuned | defaults |",
    "| --- | --: | --: |",
  ];
  const line = (
    label: string,
    condition: string,
    key: keyof ConditionFigures,
    digits = 0,
  ) =>
    rows.push(
      `| ${label} | ${range(pick(runs, "tuned", condition, key), digits)} | ${
        range(pick(runs, "defaults", condition, key), digits)
      } |`,
    );
  line("audio back after a 10 s outage ends (ms)", "outage", "recoveryMs");
  line("ICE restarts for that outage (both sides)", "outage", "iceRestarts");
  line(
    "join click to first audio packet, 40 ± 10 ms (ms)",
    "join40",
    "joinToFirstAudioMs",
  );
  line("mouth-to-ear p50, clean (ms)", "clean", "mouthToEarP50Ms");
  line("mouth-to-ear p90, clean (ms)", "clean", "mouthToEarP90Ms");
  line("mouth-to-ear p50, 40 ± 10 ms (ms)", "delay40", "mouthToEarP50Ms");
  line("mouth-to-ear p90, 40 ± 10 ms (ms)", "delay40", "mouthToEarP90Ms");
  line("mouth-to-ear p50, 100 ± 30 ms (ms)", "delay100", "mouthToEarP50Ms");
  line("mouth-to-ear p90, 100 ± 30 ms (ms)", "delay100", "mouthToEarP90Ms");
  line("mouth-to-ear p50, 10% loss (ms)", "loss10", "mouthToEarP50Ms");
  line("mouth-to-ear p90, 10% loss (ms)", "loss10", "mouthToEarP90Ms");
  return rows.join("\n");
}

/** The targets against the tuned path's worst value over runs. */
export function targetsTable(runs: RunFigures[]): string {
  const worst = (condition: string, key: keyof ConditionFigures) => {
    const xs = pick(runs, "tuned", condition, key).filter((
      v,
    ): v is number => v !== undefined && Number.isFinite(v));
    return xs.length ? Math.max(...xs) : undefined;
  };
  const rows = [
    "| target | tuned, worst of runs and directions | result |",
    "| --- | --: | --- |",
  ];
  const line = (
    label: string,
    value: number | undefined,
    limit: number,
    digits = 1,
  ) =>
    rows.push(
      `| ${label} | ${fmt(value, digits)} | ${
        value === undefined || !Number.isFinite(value)
          ? "not measured"
          : value <= limit
          ? "met"
          : "missed"
      } |`,
    );
  line(
    "concealed ≤ 0.5% at 10% loss",
    worst("loss10", "concealedPercent"),
    0.5,
    2,
  );
  line(
    "concealed ≤ 2% at 20% loss",
    worst("loss20", "concealedPercent"),
    2,
    2,
  );
  line(
    "mouth-to-ear p50 ≤ 80 ms, clean (ms)",
    worst("clean", "mouthToEarP50Ms"),
    80,
    0,
  );
  line(
    "mouth-to-ear p50 ≤ 40 + 60 ms under 40 ± 10 ms (ms)",
    worst("delay40", "mouthToEarP50Ms"),
    100,
    0,
  );
  line(
    "audio back ≤ 1 s after a 10 s outage (ms)",
    worst("outage", "recoveryMs"),
    1000,
    0,
  );
  line(
    "at most one ICE restart per outage",
    worst("outage", "iceRestarts"),
    1,
    0,
  );
  return rows.join("\n");
}

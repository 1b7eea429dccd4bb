/**
 * One person in the call as a list item: initials avatar with a ring while
 * they speak, name, connection state, mute, path, a three-level quality
 * indicator with a one-line summary, and, on demand, statistics with the
 * last minute drawn as sparklines. The item's accessible name is the
 * person's name; its description is the status line.
 *
 * @module
 */
import { useSignal } from "@preact/signals";
import type { ComponentChildren } from "preact";
import { hueOf, initials } from "./names.ts";
import { assessQuality, type Quality } from "./quality.ts";
import type { Presence } from "./room_model.ts";
import { Sparkline } from "./sparkline.tsx";
import type { PeerStats } from "./stats.ts";

/** Words for each presence, as the tile shows them. */
export const PRESENCE_TEXT: Record<Presence, string> = {
  connecting: "connecting",
  connected: "connected",
  reconnecting: "reconnecting",
  failed: "failed",
};

/** What a tile shows; the page decides, the tile draws. */
export interface TileProps {
  /** A stable DOM-safe key (the peer ID, or "self"). */
  id: string;
  peerId: string;
  name: string;
  self?: boolean;
  speaking: boolean;
  muted: boolean;
  /** Extra words after the state, like "hold Space to talk". */
  extra?: string;
  presence?: Presence;
  history?: PeerStats[];
  stats?: PeerStats;
  /** More chips for the status line (raised hand, safety code). */
  chips?: ComponentChildren;
  /** A line under the status: why it failed, or that they are away. */
  note?: string;
  children?: ComponentChildren;
}

/** A participant's tile (`<li>`). */
export function Tile(props: TileProps) {
  const { id, name, self, speaking, muted, presence, stats } = props;
  const history = props.history ?? [];
  const quality: Quality | undefined = !self && presence === "connected"
    ? assessQuality(history)
    : undefined;
  const nameId = `name-${id}`;
  const lineId = `line-${id}`;
  return (
    <li
      class={`tile${speaking ? " speaking" : ""}${
        presence ? ` ${presence}` : ""
      }`}
      aria-labelledby={nameId}
      aria-describedby={lineId}
      data-peer-id={props.peerId}
      data-state={presence}
    >
      <div class="tile-main">
        <span class={`avatar hue-${hueOf(props.peerId)}`} aria-hidden="true">
          {initials(name)}
        </span>
        <div class="who">
          <span class="name" id={nameId}>{self ? `${name} (you)` : name}</span>
          <span class="line" id={lineId}>
            {presence && (
              <span class={`chip state ${presence}`}>
                {PRESENCE_TEXT[presence]}
              </span>
            )}
            {muted && <span class="chip muted">muted</span>}
            {props.extra && <span class="chip">{props.extra}</span>}
            {props.chips}
            {speaking && <span class="chip talking">speaking</span>}
            {stats?.path && (
              <span class="chip path">
                {stats.path === "relayed" ? "relayed (TURN)" : "direct"}
              </span>
            )}
            {quality && (
              <span class={`quality ${quality.level}`}>
                <span class="bars" aria-hidden="true">
                  <span /> <span /> <span />
                </span>
                <span class="visually-hidden">quality:</span> {quality.summary}
              </span>
            )}
          </span>
        </div>
      </div>
      {props.note && <p class="note">{props.note}</p>}
      {props.children}
    </li>
  );
}

function fmt(value: number | undefined, unit: string, digits = 0): string {
  return value === undefined ? "–" : `${value.toFixed(digits)} ${unit}`;
}

/**
 * The statistics of one peer behind a disclosure button, with sparklines
 * of the last minute for round trip, jitter, loss and bitrate in.
 */
export function StatsPanel(
  { id, name, stats, history }: {
    id: string;
    name: string;
    stats: PeerStats | undefined;
    history: PeerStats[];
  },
) {
  const open = useSignal(false);
  const panelId = `stats-${id}`;
  const series = (pick: (s: PeerStats) => number | undefined) =>
    history.map(pick);
  const row = (
    term: string,
    value: string,
    values?: (number | undefined)[],
    floor = 1,
  ) => (
    <>
      <dt>{term}</dt>
      <dd>
        <span class="value">{value}</span>
        {values && (
          <Sparkline
            values={values}
            floor={floor}
            label={`${term}, last minute`}
          />
        )}
      </dd>
    </>
  );
  return (
    <div class="stats">
      <button
        type="button"
        class="disclosure"
        aria-expanded={open.value}
        aria-controls={panelId}
        aria-label={`Statistics for ${name}`}
        onClick={() => open.value = !open.value}
      >
        Statistics
      </button>
      <dl id={panelId} hidden={!open.value}>
        {row(
          "Round trip",
          fmt(stats?.rttMs, "ms"),
          series((s) => s.rttMs),
          100,
        )}
        {row(
          "Jitter",
          fmt(stats?.jitterMs, "ms", 1),
          series((s) => s.jitterMs),
          20,
        )}
        {row(
          "Packet loss",
          fmt(stats?.lossPercent, "%", 1),
          series((s) => s.lossPercent),
          5,
        )}
        {row(
          "In / out",
          `${fmt(stats?.inKbps, "kbit/s")} / ${fmt(stats?.outKbps, "kbit/s")}`,
          series((s) => s.inKbps),
          64,
        )}
        {row("Codec", stats?.codec ?? "–")}
        {row(
          "Candidates",
          `${stats?.localCandidate ?? "–"} → ${stats?.remoteCandidate ?? "–"}`,
        )}
      </dl>
    </div>
  );
}

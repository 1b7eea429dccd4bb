/**
 * The in-call page: room header, mute and leave, the local meter with the
 * "you are muted" hint, and the participants with their meters, volume,
 * connection state, path and statistics.
 *
 * @module
 */
import type { Audio } from "./audio_model.ts";
import { SPEAKING_LEVEL } from "./audio_model.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection_model.ts";
import { copyText } from "./copy_text.ts";
import { displayName, type Participant, type Room } from "./room_model.ts";
import { roomLink } from "./room_id.ts";
import { LocalMeter, SettingsPanel } from "./settings_panel.tsx";
import type { PeerStats } from "./stats.ts";

/** The in-call page. */
export function CallPage(
  { call, connection, room, audio, status }: {
    call: Call;
    connection: Connection;
    room: Room;
    audio: Audio;
    status: { value: string };
  },
) {
  const participants = room.participants.value;
  const muted = audio.muted.value;
  async function copy() {
    const link = roomLink(location.origin, connection.room.value);
    status.value = await copyText(link)
      ? "Link copied."
      : `Copy this link: ${link}`;
  }
  return (
    <div class="columns">
      <div class="column">
        <section class="panel call" aria-labelledby="call-title">
          <h2 id="call-title">In the call</h2>
          <div class="buttons">
            <button
              type="button"
              class={muted ? "mute on" : "mute"}
              aria-pressed={muted}
              onClick={() => audio.toggleMute()}
            >
              Mute
            </button>
            <button type="button" onClick={copy}>Copy link</button>
            <button type="button" class="danger" onClick={() => call.leave()}>
              Leave
            </button>
          </div>
          {audio.playbackBlocked.value && (
            <button
              type="button"
              class="primary"
              onClick={() => call.resumePlayback()}
            >
              Play the others' audio
            </button>
          )}
          <div class="you">
            <strong>{displayName(audio.name.value)} (you)</strong>
            {muted
              ? <span class="badge">muted</span>
              : audio.pushToTalk.value && !audio.talking.value
              ? <span class="badge">hold Space to talk</span>
              : null}
            <LocalMeter audio={audio} />
            {audio.speakingWhileMuted.value && (
              <p class="warning" role="status">
                You are muted: the others cannot hear you.
              </p>
            )}
          </div>
        </section>
        <SettingsPanel audio={audio} />
      </div>
      <section class="panel" aria-labelledby="people-title">
        <h2 id="people-title">
          Participants ({participants.length + 1})
        </h2>
        {participants.length === 0 && (
          <p class="hint">
            Nobody else is here yet. Share the link to invite someone.
          </p>
        )}
        <ul class="people">
          {participants.map((p) => <ParticipantItem key={p.peerId} p={p} />)}
        </ul>
      </section>
    </div>
  );
}

const STATE_TEXT = {
  connecting: "connecting",
  connected: "connected",
  reconnecting: "reconnecting",
  failed: "failed",
} as const;

function ParticipantItem({ p }: { p: Participant }) {
  const name = displayName(p.name.value);
  const level = p.level.value;
  const state = p.state.value;
  const stats = p.stats.value;
  const speaking = level > SPEAKING_LEVEL;
  const volumeId = `volume-${p.peerId}`;
  return (
    <li class="person" data-peer-id={p.peerId} data-state={state}>
      <div class="person-head">
        <strong>{name}</strong>
        <span class={`state ${state}`}>{STATE_TEXT[state]}</span>
        {stats?.path && (
          <span class="badge">
            {stats.path === "relayed" ? "relayed (TURN)" : "direct"}
          </span>
        )}
      </div>
      <div class="meter-row">
        <meter
          aria-label={`${name} level`}
          min={0}
          max={1}
          low={0.3}
          high={0.92}
          optimum={0.6}
          value={level}
        />
        <span class={speaking ? "talk on" : "talk"}>
          {speaking ? "speaking" : "quiet"}
        </span>
      </div>
      <div class="field inline">
        <label for={volumeId}>Volume of {name}</label>
        <input
          id={volumeId}
          type="range"
          min={0}
          max={1}
          step={0.05}
          value={p.volume.value}
          onInput={(e) => p.volume.value = Number(e.currentTarget.value)}
        />
      </div>
      {p.note.value && <p class="warning">{p.note.value}</p>}
      <StatsPanel stats={stats} />
    </li>
  );
}

function fmt(value: number | undefined, unit: string, digits = 0): string {
  return value === undefined ? "–" : `${value.toFixed(digits)} ${unit}`;
}

function StatsPanel({ stats }: { stats: PeerStats | undefined }) {
  return (
    <details class="stats" open>
      <summary>Connection statistics</summary>
      <dl>
        <dt>Round trip</dt>
        <dd>{fmt(stats?.rttMs, "ms")}</dd>
        <dt>Jitter</dt>
        <dd>{fmt(stats?.jitterMs, "ms", 1)}</dd>
        <dt>Packet loss</dt>
        <dd>{fmt(stats?.lossPercent, "%", 1)}</dd>
        <dt>In / out</dt>
        <dd>
          {fmt(stats?.inKbps, "kbit/s")} / {fmt(stats?.outKbps, "kbit/s")}
        </dd>
        <dt>Codec</dt>
        <dd>{stats?.codec ?? "–"}</dd>
        <dt>Candidates</dt>
        <dd>
          {stats?.localCandidate ?? "–"} → {stats?.remoteCandidate ?? "–"}
        </dd>
      </dl>
    </details>
  );
}

/**
 * The in-call page: the participants as a list of tiles (you first), and a
 * controls bar that stays in reach (at the bottom on phones): Mute, Copy
 * link, Settings, Leave. Audio settings open in a dialog.
 *
 * @module
 */
import { type Signal, useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import type { Audio } from "./audio_model.ts";
import { SPEAKING_LEVEL } from "./audio_model.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection_model.ts";
import { copyText } from "./copy_text.ts";
import { Icon } from "./icons.tsx";
import { displayName } from "./names.ts";
import { StatsPanel, Tile } from "./participant_tile.tsx";
import { type Participant, presenceOf, type Room } from "./room_model.ts";
import { roomLink } from "./room_id.ts";
import type { Chat } from "./chat_model.ts";
import { ChatPanel } from "./chat_panel.tsx";
import type { PeerChannels } from "./peer_channels.ts";
import { secretFragment, secretFromFragment } from "./safety_code.ts";
import type { Trust } from "./trust_model.ts";
import { TrustChip, VerifyControls, VerifyDialog } from "./verify_panel.tsx";

/** How often the page re-reads the clock (for "reconnecting" to expire). */
const TICK_MS = 1_000;

/** The in-call page. */
export function CallPage(
  { call, connection, room, audio, status, settingsOpen, extras }: {
    call: Call;
    connection: Connection;
    room: Room;
    audio: Audio;
    status: { value: string };
    settingsOpen: Signal<boolean>;
    /** Chat, hands and safety codes (`peer_channels.ts`). */
    extras: { chat: Chat; trust: Trust; channels: PeerChannels };
  },
) {
  const { chat, trust, channels } = extras;
  const handRaised = chat.handRaised.value;
  const hands = chat.hands.value;
  const participants = room.participants.value;
  const muted = audio.muted.value;
  const now = useSignal(Date.now());
  useEffect(() => {
    const timer = setInterval(() => now.value = Date.now(), TICK_MS);
    return () => clearInterval(timer);
  }, []);
  async function copy() {
    // The room secret stays in the fragment: the server never sees it.
    const link = roomLink(location.origin, connection.room.value) +
      secretFragment(secretFromFragment(location.hash));
    status.value = await copyText(link)
      ? "Link copied."
      : `Copy this link: ${link}`;
  }
  const selfId = connection.selfId.value;
  const selfName = displayName(audio.name.value, selfId);
  const hostId = connection.host.value;
  const isHost = connection.isHost.value;
  const locked = connection.locked.value;
  const hostName = isHost ? "You" : displayName(
    participants.find((p) => p.peerId === hostId)?.name.value ?? "",
    hostId,
  );
  const ptt = audio.pushToTalk.value && !audio.talking.value;
  return (
    <div class="call">
      <section class="people" aria-labelledby="people-title">
        <h2 id="people-title">
          Participants ({participants.length + 1})
        </h2>
        {hostId && (
          <p class="room-state" role="status" aria-label="Room">
            {locked ? "Locked: newcomers knock. " : ""}
            {isHost ? "You host this room." : `${hostName} hosts this room.`}
          </p>
        )}
        {isHost && <KnockList call={call} connection={connection} />}
        {audio.playbackBlocked.value && (
          <button
            type="button"
            class="primary"
            onClick={() => call.resumePlayback()}
          >
            Play the others' audio
          </button>
        )}
        <ul class="tiles" aria-label="Participants">
          <Tile
            id="self"
            peerId={selfId}
            name={selfName}
            self
            speaking={audio.sending.value &&
              audio.localLevel.value > SPEAKING_LEVEL}
            muted={muted}
            extra={!muted && ptt ? "hold Space to talk" : undefined}
            chips={
              <>
                {isHost && <HostChip />}
                {handRaised && <HandChip />}
              </>
            }
          >
            {audio.speakingWhileMuted.value && (
              <p class="note warning" role="status">
                You are muted: the others cannot hear you.
              </p>
            )}
          </Tile>
          {participants.map((p) => (
            <ParticipantTile
              key={p.peerId}
              p={p}
              call={call}
              now={now.value}
              graceMs={connection.resumeGraceMs.value}
              hand={hands.has(p.peerId)}
              trust={trust}
              host={p.peerId === hostId}
              canRemove={isHost}
            />
          ))}
        </ul>
        {participants.length === 0 && (
          <p class="hint">
            Nobody else is here yet. Share the link to invite someone.
          </p>
        )}
      </section>
      <ChatPanel chat={chat} channels={channels} />
      <VerifyDialog trust={trust} room={room} />
      <div class="controls" role="group" aria-label="Call controls">
        <button
          type="button"
          class="mute"
          aria-pressed={muted}
          onClick={() => audio.toggleMute()}
        >
          <Icon name={muted ? "micOff" : "mic"} />
          Mute
        </button>
        <button
          type="button"
          class="hand"
          aria-pressed={handRaised}
          onClick={() => channels.setHand(!handRaised)}
        >
          <Icon name="hand" />
          Raise hand
        </button>
        {isHost && (
          <button
            type="button"
            class="lock"
            aria-pressed={locked}
            onClick={() => call.setLocked(!locked)}
          >
            <Icon name={locked ? "lock" : "unlock"} />
            Lock room
          </button>
        )}
        <button type="button" onClick={copy}>
          <Icon name="link" />
          Copy link
        </button>
        <button
          type="button"
          aria-haspopup="dialog"
          onClick={() => settingsOpen.value = true}
        >
          <Icon name="settings" />
          Settings
        </button>
        <button type="button" class="danger" onClick={() => call.leave()}>
          <Icon name="leave" />
          Leave
        </button>
      </div>
    </div>
  );
}

function HandChip() {
  return <span class="chip hand">hand raised</span>;
}

function HostChip() {
  return <span class="chip host">host</span>;
}

/** Knocks on our locked room, each with Admit and Deny (we host). */
function KnockList(
  { call, connection }: { call: Call; connection: Connection },
) {
  const knocks = connection.knocks.value;
  return (
    <section class="knocks" aria-label="Waiting to join" aria-live="polite">
      {knocks.length > 0 && (
        <ul>
          {knocks.map((k) => {
            const who = k.name || "Someone";
            return (
              <li key={k.knockId} class="knock">
                <span>{who} wants to join</span>
                <button
                  type="button"
                  class="primary"
                  aria-label={`Admit ${who}`}
                  onClick={() => call.answerKnock(k.knockId, true)}
                >
                  Admit
                </button>
                <button
                  type="button"
                  aria-label={`Deny ${who}`}
                  onClick={() =>
                    call.answerKnock(k.knockId, false)}
                >
                  Deny
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function ParticipantTile(
  { p, call, now, graceMs, hand, trust, host, canRemove }: {
    p: Participant;
    call: Call;
    now: number;
    graceMs: number;
    hand: boolean;
    trust: Trust;
    /** Whether this participant hosts the room. */
    host: boolean;
    /** Whether we host, and so may remove them. */
    canRemove: boolean;
  },
) {
  const name = displayName(p.name.value, p.peerId);
  const presence = presenceOf(
    {
      state: p.state.value,
      everConnected: p.everConnected.value,
      lostAt: p.lostAt.value,
    },
    now,
    graceMs,
  );
  // A lost peer within its grace is most likely away (reloading, on the
  // move): the failure note of the attempt in between would mislead.
  const note = presence === "reconnecting" && p.lostAt.value > 0
    ? "Lost contact: waiting for them to come back…"
    : p.note.value;
  const volumeId = `volume-${p.peerId}`;
  const history = p.history.value;
  return (
    <Tile
      id={p.peerId}
      peerId={p.peerId}
      name={name}
      speaking={p.level.value > SPEAKING_LEVEL}
      muted={p.muted.value}
      presence={presence}
      history={history}
      stats={p.stats.value}
      note={note}
      chips={
        <>
          {host && <HostChip />}
          {hand && <HandChip />}
          <TrustChip trust={trust} peerId={p.peerId} />
        </>
      }
    >
      {presence === "failed" && (
        <button
          type="button"
          class="retry"
          aria-label={`Try again to reach ${name}`}
          onClick={() => call.retry(p.peerId)}
        >
          Try again
        </button>
      )}
      <VerifyControls trust={trust} peerId={p.peerId} name={name} />
      {canRemove && (
        <button
          type="button"
          class="remove danger"
          aria-label={`Remove ${name} from the room`}
          onClick={() => call.remove(p.peerId)}
        >
          Remove
        </button>
      )}
      <div class="volume">
        <label for={volumeId}>Volume</label>
        <input
          id={volumeId}
          aria-label={`Volume of ${name}`}
          type="range"
          min={0}
          max={1}
          step={0.05}
          value={p.volume.value}
          onInput={(e) => p.volume.value = Number(e.currentTarget.value)}
        />
      </div>
      <StatsPanel
        id={p.peerId}
        name={name}
        stats={p.stats.value}
        history={history}
      />
    </Tile>
  );
}

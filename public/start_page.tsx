/**
 * The start page: one obvious way in (the Room, an optional name, Join),
 * with Create room and Copy link beside it, a compact microphone check, and
 * the audio settings one click away in the settings dialog.
 *
 * @module
 */
import { type Signal, useSignal } from "@preact/signals";
import type { Audio } from "./audio_model.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection_model.ts";
import { createRoomId, roomFromPath, roomLink } from "./room_id.ts";
import { LocalMeter } from "./settings_panel.tsx";
import { copyText } from "./copy_text.ts";
import {
  createSecret,
  secretFragment,
  secretFromFragment,
} from "./safety_code.ts";

/** The start page. */
export function StartPage(
  { call, connection, audio, status, settingsOpen }: {
    call: Call;
    connection: Connection;
    audio: Audio;
    status: { value: string };
    settingsOpen: Signal<boolean>;
  },
) {
  const room = useSignal(roomFromPath(location.pathname));
  const joining = connection.phase.value === "joining";

  function join(event: Event) {
    event.preventDefault();
    const id = room.value.trim();
    if (roomFromPath(location.pathname) !== id && /^[\w-]{1,64}$/.test(id)) {
      history.pushState(null, "", `/r/${id}`);
    }
    status.value = "";
    void call.join({ room: id, name: audio.name.value.trim() });
  }

  function create() {
    const id = createRoomId();
    room.value = id;
    // A new room's link carries a secret for the automatic safety check,
    // in the fragment, which browsers never send to the server.
    history.pushState(null, "", `/r/${id}${secretFragment(createSecret())}`);
    status.value = "New room created. Share its link, then join.";
  }

  async function copy() {
    const id = room.value.trim();
    if (!id) {
      status.value = "Enter or create a room first.";
      return;
    }
    const secret = roomFromPath(location.pathname) === id
      ? secretFromFragment(location.hash)
      : undefined;
    const link = roomLink(location.origin, id) + secretFragment(secret);
    status.value = await copyText(link)
      ? "Link copied."
      : `Copy this link: ${link}`;
  }

  return (
    <div class="start">
      <form class="panel join" onSubmit={join}>
        <h2>Join a call</h2>
        <div class="field">
          <label for="room-input">Room</label>
          <input
            id="room-input"
            name="room"
            autocomplete="off"
            spellcheck={false}
            value={room.value}
            onInput={(e) => room.value = e.currentTarget.value}
          />
          <div class="quiet-actions">
            <button type="button" class="link" onClick={create}>
              Create room
            </button>
            <button type="button" class="link" onClick={copy}>
              Copy link
            </button>
          </div>
        </div>
        <div class="field">
          <label for="name-input">Your name (optional)</label>
          <input
            id="name-input"
            name="name"
            maxLength={64}
            autocomplete="nickname"
            aria-describedby="name-hint"
            value={audio.name.value}
            onInput={(e) => audio.name.value = e.currentTarget.value}
          />
          <p class="hint" id="name-hint">
            Without one, you get a name like “Calm Otter”.
          </p>
        </div>
        {connection.knocking.value && (
          <p class="knocking" role="status">
            This room is locked. Waiting for the host to let you in…
          </p>
        )}
        <button type="submit" class="primary join-button" disabled={joining}>
          {connection.knocking.value
            ? "Waiting…"
            : joining
            ? "Joining…"
            : "Join"}
        </button>
        {joining && (
          <button type="button" onClick={() => call.leave()}>Cancel</button>
        )}
      </form>
      <section class="panel mic-check" aria-labelledby="check-title">
        <h2 id="check-title">Microphone check</h2>
        <p class="hint">
          Parley asks for the microphone only when you test it or join.
        </p>
        <LocalMeter audio={audio} />
        <div class="buttons">
          <button
            type="button"
            onClick={() => void call.checkMicrophone()}
            disabled={audio.micLive.value}
          >
            {audio.micLive.value ? "Microphone on" : "Test microphone"}
          </button>
          <button
            type="button"
            aria-haspopup="dialog"
            onClick={() => settingsOpen.value = true}
          >
            Audio settings
          </button>
        </div>
      </section>
    </div>
  );
}

/**
 * The start page: choose or create a room, a display name, and check the
 * microphone before joining.
 *
 * @module
 */
import { useSignal } from "@preact/signals";
import type { Audio } from "./audio_model.ts";
import type { Call } from "./call.ts";
import type { Connection } from "./connection_model.ts";
import { createRoomId, roomFromPath, roomLink } from "./room_id.ts";
import { SettingsPanel } from "./settings_panel.tsx";
import { copyText } from "./copy_text.ts";

/** The start page. */
export function StartPage(
  { call, connection, audio, status }: {
    call: Call;
    connection: Connection;
    audio: Audio;
    status: { value: string };
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
    history.pushState(null, "", `/r/${id}`);
    status.value = "New room created. Share its link, then join.";
  }

  async function copy() {
    const id = room.value.trim();
    if (!id) {
      status.value = "Enter or create a room first.";
      return;
    }
    status.value = await copyText(roomLink(location.origin, id))
      ? "Link copied."
      : `Copy this link: ${roomLink(location.origin, id)}`;
  }

  return (
    <div class="columns">
      <div class="column">
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
          </div>
          <div class="field">
            <label for="name-input">Your name (optional)</label>
            <input
              id="name-input"
              name="name"
              maxLength={64}
              autocomplete="nickname"
              value={audio.name.value}
              onInput={(e) => audio.name.value = e.currentTarget.value}
            />
          </div>
          <div class="buttons">
            <button type="submit" class="primary" disabled={joining}>
              Join
            </button>
            <button type="button" onClick={create}>Create room</button>
            <button type="button" onClick={copy}>Copy link</button>
            {joining && (
              <button type="button" onClick={() => call.leave()}>Cancel</button>
            )}
          </div>
        </form>
        <section class="panel" aria-labelledby="check-title">
          <h2 id="check-title">Microphone check</h2>
          <p class="hint">
            Parley asks for the microphone only when you test it or join.
          </p>
          <button
            type="button"
            onClick={() => void call.checkMicrophone()}
            disabled={audio.micLive.value}
          >
            {audio.micLive.value ? "Microphone on" : "Test microphone"}
          </button>
        </section>
      </div>
      <SettingsPanel audio={audio} meter />
    </div>
  );
}

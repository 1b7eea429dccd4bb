/**
 * Parley's browser client: the entry point. Creates the three models
 * (connection, room, audio) and the call that owns the live resources, wires
 * the keyboard (M to mute, Space to talk), resumes this tab's session after
 * a reload, and renders the start or in-call page.
 *
 * @module
 */
import { render } from "preact";
import { signal } from "@preact/signals";
import { AudioModel } from "./audio_model.ts";
import { Call } from "./call.ts";
import { CallPage } from "./call_page.tsx";
import { ConnectionModel } from "./connection_model.ts";
import { unsupportedReason } from "./media.ts";
import { loadSession } from "./prefs.ts";
import { RoomModel } from "./room_model.ts";
import { SettingsDialog } from "./settings_dialog.tsx";
import { roomFromPath } from "./room_id.ts";
import { StartPage } from "./start_page.tsx";
import { ChatModel } from "./chat_model.ts";
import { PeerChannels } from "./peer_channels.ts";
import { secretFromFragment } from "./safety_code.ts";
import { TrustModel } from "./trust_model.ts";

const connection = new ConnectionModel();
const room = new RoomModel();
const audio = new AudioModel();
const chat = new ChatModel();
const trust = new TrustModel();
// The room secret lives in the link's #fragment, which never reaches the
// server; read it afresh, as the user may follow another link.
const channels = new PeerChannels({
  room,
  chat,
  trust,
  secret: () => secretFromFragment(location.hash),
});
const extras = { chat, trust, channels };
const call = new Call(connection, room, audio, channels);
/** Short feedback for buttons like Copy link (polite live region). */
const status = signal("");
/** Whether the audio settings dialog is open (either page opens it). */
const settingsOpen = signal(false);

function App() {
  const phase = connection.phase.value;
  // One alert: a failed join repeats the unsupported reason in `error`.
  const alert = connection.error.value || unsupportedReason();
  return (
    <div
      class={`app phase-${phase}`}
      data-phase={phase}
      data-self-id={connection.selfId.value}
      data-signaling={connection.status.value}
    >
      <header class="top">
        <h1>Parley</h1>
        {phase !== "start" && (
          <p class="room-id">
            Room <code>{connection.room.value}</code>
          </p>
        )}
        <p
          class={`signaling ${connection.status.value}`}
          role="status"
          aria-label="Server connection"
        >
          {connection.statusText.value}
        </p>
      </header>
      {alert && <p class="error" role="alert">{alert}</p>}
      <p class="visually-hidden" aria-live="polite">
        {room.announcement.value}
      </p>
      <p class="status" aria-live="polite">{status.value}</p>
      {phase === "call"
        ? (
          <CallPage
            call={call}
            connection={connection}
            room={room}
            audio={audio}
            status={status}
            settingsOpen={settingsOpen}
            extras={extras}
          />
        )
        : (
          <StartPage
            call={call}
            connection={connection}
            audio={audio}
            status={status}
            settingsOpen={settingsOpen}
          />
        )}
      <SettingsDialog audio={audio} open={settingsOpen} />
    </div>
  );
}

function typing(target: EventTarget | null): boolean {
  return target instanceof HTMLElement &&
    (target.isContentEditable ||
      ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) &&
        !(target instanceof HTMLInputElement &&
          ["checkbox", "range"].includes(target.type)));
}

addEventListener("keydown", (event) => {
  if (connection.phase.peek() !== "call" || typing(event.target)) return;
  if (event.key === "m" || event.key === "M") {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    audio.toggleMute();
  } else if (event.code === "Space" && audio.pushToTalk.peek()) {
    event.preventDefault();
    audio.talking.value = true;
  }
});
addEventListener("keyup", (event) => {
  if (event.code === "Space") audio.talking.value = false;
});
addEventListener("blur", () => audio.talking.value = false);

// A reload of a tab that was in a call resumes its session.
const session = loadSession();
if (session && session.room === roomFromPath(location.pathname)) {
  audio.name.value = session.name;
  void call.join(session);
}

const root = document.getElementById("app");
if (root) render(<App />, root);

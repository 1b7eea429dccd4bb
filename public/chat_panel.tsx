/**
 * The chat panel: the messages of this call as a log (a live region, so
 * screen readers read new ones), and a text box with Send. Text is shown
 * as text only: Preact escapes it, and nothing here sets HTML.
 *
 * @module
 */
import { useSignal } from "@preact/signals";
import { type Chat, MAX_CHAT_CHARS } from "./chat_model.ts";
import type { PeerChannels } from "./peer_channels.ts";

function clock(at: number): string {
  const d = new Date(at);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The chat panel. */
export function ChatPanel(
  { chat, channels }: { chat: Chat; channels: PeerChannels },
) {
  const draft = useSignal("");
  const note = useSignal("");
  const messages = chat.messages.value;
  function send(event: Event) {
    event.preventDefault();
    const text = draft.value.trim();
    if (!text) return;
    const sent = channels.sendChat(text);
    if (sent < 0) {
      note.value = `Messages can be at most ${MAX_CHAT_CHARS} characters.`;
      return;
    }
    draft.value = "";
    note.value = sent === 0 ? "Nobody else is connected to read it yet." : "";
  }
  return (
    <section class="panel chat" aria-labelledby="chat-title">
      <h2 id="chat-title">Chat</h2>
      <div class="messages" role="log" aria-label="Messages" aria-live="polite">
        <ol>
          {messages.map((m) => (
            <li key={m.id} class={m.self ? "self" : undefined}>
              <span class="from">{m.name}</span>{" "}
              <time class="at" dateTime={new Date(m.at).toISOString()}>
                {clock(m.at)}
              </time>
              <span class="text">{m.text}</span>
            </li>
          ))}
        </ol>
      </div>
      {messages.length === 0 && (
        <p class="hint">
          Messages go straight to the others' browsers: the server never sees
          them, and nothing is kept after the call.
        </p>
      )}
      <form class="chat-form" onSubmit={send}>
        <label for="chat-input">Message</label>
        <input
          id="chat-input"
          autocomplete="off"
          maxLength={MAX_CHAT_CHARS}
          value={draft.value}
          onInput={(e) => draft.value = e.currentTarget.value}
        />
        <button type="submit">Send</button>
      </form>
      {note.value && <p class="note" role="status">{note.value}</p>}
    </section>
  );
}

/**
 * What travels over each peer connection's data channel, and the chat and
 * raised hands it feeds. Messages are small JSON objects that never pass
 * through the server:
 *
 * - `{type:"chat", text, ts}`: a chat message, 1 to {@linkcode MAX_CHAT_CHARS}
 *   characters; `ts` is the sender's clock (epoch ms);
 * - `{type:"hand", raised}`: the sender's hand, sent on every change and
 *   whenever the channel opens (so a late joiner learns it);
 * - `{type:"proof", mac}`: the automatic safety check (`safety_code.ts`);
 *   `mac` is null from a browser without the room secret.
 *
 * Anything else, or anything longer than {@linkcode MAX_RAW_CHARS}, is
 * dropped unread. The sender's name is never taken from the message: the
 * receiver shows the name the server announced for that connection's peer.
 *
 * @module
 */
import { action, createModel, signal } from "@preact/signals";

/** The longest chat message, in UTF-16 code units (the text box's limit). */
export const MAX_CHAT_CHARS = 500;
/**
 * The longest raw message read at all: a chat message at its limit, fully
 * escaped (`\uXXXX`), fits with room to spare.
 */
export const MAX_RAW_CHARS = 4_096;
/** Chat messages kept on the page; older ones go. */
export const MAX_KEPT_MESSAGES = 200;

/** A message on the data channel. */
export type ChannelMessage =
  | { type: "chat"; text: string; ts: number }
  | { type: "hand"; raised: boolean }
  | { type: "proof"; mac: string | null };

/** Whether `text` may be sent as a chat message. */
export function isChatText(text: string): boolean {
  return text.trim().length > 0 && text.length <= MAX_CHAT_CHARS;
}

/** Parses one raw data channel message; undefined for anything invalid. */
export function parseChannelMessage(raw: unknown): ChannelMessage | undefined {
  // Length first: never parse a huge string a peer sent.
  if (typeof raw !== "string" || raw.length > MAX_RAW_CHARS) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case "chat":
      return typeof m.text === "string" && isChatText(m.text) &&
          typeof m.ts === "number" && Number.isFinite(m.ts)
        ? { type: "chat", text: m.text, ts: m.ts }
        : undefined;
    case "hand":
      return typeof m.raised === "boolean"
        ? { type: "hand", raised: m.raised }
        : undefined;
    case "proof":
      return m.mac === null ||
          (typeof m.mac === "string" && /^[A-Za-z0-9_-]{43}$/.test(m.mac))
        ? { type: "proof", mac: m.mac }
        : undefined;
    default:
      return undefined;
  }
}

/** One chat message as the panel shows it. */
export interface ChatMessage {
  /** Unique on this page (a counter). */
  readonly id: number;
  /** The sender's peer ID ("" for our own). */
  readonly from: string;
  /** The sender's display name, fixed when the message arrived. */
  readonly name: string;
  readonly text: string;
  /** When it arrived here (epoch ms): peers' clocks disagree. */
  readonly at: number;
  readonly self: boolean;
}

/** The chat and raised hands model; `now` is the clock. */
export const ChatModel = createModel((now: () => number = Date.now) => {
  const messages = signal<ChatMessage[]>([]);
  /** Peer IDs of the others whose hand is up. */
  const hands = signal<ReadonlySet<string>>(new Set());
  /** Whether our own hand is up. */
  const handRaised = signal(false);
  let counter = 0;
  return {
    messages,
    hands,
    handRaised,
    /** Adds a message (ours, or one received), keeping the latest ones. */
    add: action((from: string, name: string, text: string) => {
      const message: ChatMessage = {
        id: ++counter,
        from,
        name,
        text,
        at: now(),
        self: from === "",
      };
      messages.value = [
        ...messages.value.slice(1 - MAX_KEPT_MESSAGES),
        message,
      ];
    }),
    /** Records a peer's hand. */
    setHand: action((peerId: string, raised: boolean) => {
      if (hands.value.has(peerId) === raised) return;
      const next = new Set(hands.value);
      if (raised) next.add(peerId);
      else next.delete(peerId);
      hands.value = next;
    }),
    /** Forgets everything (the call ended). */
    clear: action(() => {
      messages.value = [];
      hands.value = new Set();
      handRaised.value = false;
    }),
  };
});

/** An instance of {@linkcode ChatModel}. */
export type Chat = InstanceType<typeof ChatModel>;

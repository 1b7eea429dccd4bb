/**
 * The data channel of each peer connection and what it carries: chat,
 * raised hands and the automatic safety check; and each connection's safety
 * code, worked out once its DTLS is up. The call hands every new
 * {@linkcode PeerLink} here; nothing here touches the WebSocket, so no chat
 * text, hand or proof ever reaches the server.
 *
 * The channel is `negotiated` with a fixed ID (see `peer_link.ts`): both
 * sides create it up front, so it needs no extra offer and cannot collide
 * with one. Messages to a peer whose channel is not open (still connecting,
 * or reconnecting) are not queued: chat is for the people there now.
 *
 * @module
 */
import {
  type ChannelMessage,
  type Chat,
  isChatText,
  parseChannelMessage,
} from "./chat_model.ts";
import { displayName } from "./names.ts";
import type { PeerLink } from "./peer_link.ts";
import { findParticipant, type Room } from "./room_model.ts";
import {
  checkProof,
  fingerprintFromSdp,
  type Fingerprints,
  fingerprintsFromStats,
  proofOf,
  safetyCode,
  type StatsEntry,
} from "./safety_code.ts";
import type { Trust } from "./trust_model.ts";

/** How long after our side is ready the peer's proof may take. */
export const PROOF_TIMEOUT_MS = 10_000;
/** Chat messages a peer may send at once; more are dropped... */
export const CHAT_BURST = 10;
/** ...until its allowance refills, one message a second. */
export const CHAT_REFILL_MS = 1_000;
/** Tries to read the negotiated fingerprints, 300 ms apart. */
const FINGERPRINT_TRIES = 10;

interface PeerChannel {
  readonly link: ChannelLink;
  fingerprints?: Fingerprints;
  /** The peer's proof: undefined until it arrives, null for "no secret". */
  proof?: string | null;
  timer?: ReturnType<typeof setTimeout>;
  /** Chat allowance (a token bucket) and when it was last topped up. */
  tokens: number;
  refilledAt: number;
}

/**
 * The two fingerprints `pc` negotiated: from getStats (what DTLS used),
 * else from the current descriptions (DTLS only completes when the peer's
 * certificate matches the fingerprint there).
 */
export async function negotiatedFingerprints(
  pc: RTCPeerConnection,
): Promise<Fingerprints | undefined> {
  const report = await pc.getStats();
  const fromStats = fingerprintsFromStats(
    [...report.values()] as StatsEntry[],
  );
  if (fromStats) return fromStats;
  const local = fingerprintFromSdp(pc.currentLocalDescription?.sdp);
  const remote = fingerprintFromSdp(pc.currentRemoteDescription?.sdp);
  return local && remote ? { local, remote } : undefined;
}

/**
 * One ECDSA P-256 certificate for every connection of the call, so this
 * browser has one fingerprint; undefined where the browser cannot make one
 * (each connection then makes its own, and codes still work per pair).
 */
export async function callCertificate(): Promise<RTCCertificate | undefined> {
  try {
    return await RTCPeerConnection.generateCertificate({
      name: "ECDSA",
      namedCurve: "P-256",
    } as EcKeyGenParams);
  } catch (error) {
    console.warn("parley: generateCertificate failed", error);
    return undefined;
  }
}

/** What {@linkcode PeerChannels} works with. */
export interface PeerChannelsOptions {
  room: Room;
  chat: Chat;
  trust: Trust;
  /** Reads the room secret (from the link's `#fragment`), if any. */
  secret: () => string | undefined;
  /** @default {PROOF_TIMEOUT_MS} */
  proofTimeoutMs?: number;
  /** @default {Date.now} */
  now?: () => number;
}

/** The part of a {@linkcode PeerLink} used here. */
export type ChannelLink = Pick<PeerLink, "pc" | "channel">;

/** Per-peer data channels: chat, hands, safety codes. */
export class PeerChannels {
  readonly #room: Room;
  readonly #chat: Chat;
  readonly #trust: Trust;
  readonly #secret: () => string | undefined;
  readonly #proofTimeoutMs: number;
  readonly #now: () => number;
  readonly #peers = new Map<string, PeerChannel>();

  constructor(options: PeerChannelsOptions) {
    this.#room = options.room;
    this.#chat = options.chat;
    this.#trust = options.trust;
    this.#secret = options.secret;
    this.#proofTimeoutMs = options.proofTimeoutMs ?? PROOF_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Takes over the channel of a new connection to `peerId`. */
  attach(peerId: string, link: ChannelLink): void {
    this.#detach(peerId);
    const state: PeerChannel = {
      link,
      tokens: CHAT_BURST,
      refilledAt: this.#now(),
    };
    this.#peers.set(peerId, state);
    const channel = link.channel;
    const current = () => this.#peers.get(peerId) === state;
    channel.onopen = () => {
      if (current()) void this.#opened(peerId, state);
    };
    channel.onmessage = ({ data }) => {
      if (current()) this.#received(peerId, state, data);
    };
    if (channel.readyState === "open") void this.#opened(peerId, state);
  }

  /** Forgets a peer that left: its hand, code and channel. */
  forget(peerId: string): void {
    this.#detach(peerId);
    this.#chat.setHand(peerId, false);
    this.#trust.forget(peerId);
  }

  /**
   * Sends a chat message to everyone whose channel is open and adds it to
   * our own list. Returns how many peers it went to, or -1 when the text is
   * empty or too long.
   */
  sendChat(text: string): number {
    if (!isChatText(text)) return -1;
    const sent = this.#broadcast({ type: "chat", text, ts: Date.now() });
    this.#chat.add("", "You", text);
    return sent;
  }

  /** Raises or lowers our hand, for everyone. */
  setHand(raised: boolean): void {
    this.#chat.handRaised.value = raised;
    this.#broadcast({ type: "hand", raised });
  }

  /** Forgets every peer (the call ended); the models are cleared too. */
  clear(): void {
    for (const peerId of [...this.#peers.keys()]) this.#detach(peerId);
    this.#chat.clear();
    this.#trust.clear();
  }

  #detach(peerId: string): void {
    const state = this.#peers.get(peerId);
    if (!state) return;
    clearTimeout(state.timer);
    state.link.channel.onopen = null;
    state.link.channel.onmessage = null;
    this.#peers.delete(peerId);
  }

  #broadcast(message: ChannelMessage): number {
    const json = JSON.stringify(message);
    let sent = 0;
    for (const { link } of this.#peers.values()) {
      if (send(link.channel, json)) sent++;
    }
    return sent;
  }

  /**
   * The channel is open, so DTLS is up: tell the peer our hand, work out
   * the code, and send our proof (or say we have no secret).
   */
  async #opened(peerId: string, state: PeerChannel): Promise<void> {
    const channel = state.link.channel;
    send(
      channel,
      JSON.stringify({ type: "hand", raised: this.#chat.handRaised.peek() }),
    );
    let fingerprints: Fingerprints | undefined;
    for (let i = 0; i < FINGERPRINT_TRIES && !fingerprints; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 300));
      fingerprints = await negotiatedFingerprints(state.link.pc).catch(() =>
        undefined
      );
      if (this.#peers.get(peerId) !== state) return;
    }
    if (!fingerprints) {
      console.warn(`parley: no fingerprints for ${peerId}`);
      return;
    }
    const code = await safetyCode(fingerprints.local, fingerprints.remote);
    if (this.#peers.get(peerId) !== state) return;
    state.fingerprints = fingerprints;
    this.#trust.setCode(peerId, code);
    const secret = this.#secret();
    const mac = secret ? await proofOf(secret, fingerprints) : null;
    if (this.#peers.get(peerId) !== state) return;
    send(channel, JSON.stringify({ type: "proof", mac }));
    if (secret && state.proof === undefined) {
      this.#trust.setAuto(peerId, "pending");
      // A man in the middle that drops proofs must not look like a check
      // that is still running.
      state.timer = setTimeout(() => {
        if (this.#peers.get(peerId) === state && state.proof === undefined) {
          this.#trust.setAuto(peerId, "failed");
        }
      }, this.#proofTimeoutMs);
    }
    await this.#judge(peerId, state);
  }

  #received(peerId: string, state: PeerChannel, raw: unknown): void {
    const message = parseChannelMessage(raw);
    if (!message) return;
    switch (message.type) {
      case "chat": {
        // A peer that floods the chat loses what is past its allowance.
        if (!this.#allowChat(state)) return;
        const name = displayName(
          findParticipant(this.#room, peerId)?.name.peek() ?? "",
          peerId,
        );
        this.#chat.add(peerId, name, message.text);
        return;
      }
      case "hand":
        this.#chat.setHand(peerId, message.raised);
        return;
      case "proof":
        // One proof per connection: a second one cannot undo a failure.
        if (state.proof !== undefined) return;
        state.proof = message.mac;
        clearTimeout(state.timer);
        void this.#judge(peerId, state);
    }
  }

  #allowChat(state: PeerChannel): boolean {
    const now = this.#now();
    const earned = Math.floor((now - state.refilledAt) / CHAT_REFILL_MS);
    if (earned > 0) {
      state.tokens = Math.min(CHAT_BURST, state.tokens + earned);
      state.refilledAt += earned * CHAT_REFILL_MS;
    }
    if (state.tokens === CHAT_BURST) state.refilledAt = now;
    if (state.tokens <= 0) return false;
    state.tokens--;
    return true;
  }

  /** Decides the automatic check once both our view and the proof are in. */
  async #judge(peerId: string, state: PeerChannel): Promise<void> {
    const fingerprints = state.fingerprints;
    const secret = this.#secret();
    if (!fingerprints || !secret || state.proof === undefined) return;
    if (state.proof === null) {
      this.#trust.setAuto(peerId, "missing");
      return;
    }
    const ok = await checkProof(secret, fingerprints, state.proof);
    if (this.#peers.get(peerId) !== state) return;
    this.#trust.setAuto(peerId, ok ? "passed" : "failed");
  }
}

function send(channel: RTCDataChannel, json: string): boolean {
  if (channel.readyState !== "open") return false;
  try {
    channel.send(json);
    return true;
  } catch {
    return false;
  }
}

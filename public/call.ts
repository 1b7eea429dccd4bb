/**
 * The call: the one place that owns live resources. It moves messages
 * between the {@linkcode SignalingClient} and one {@linkcode PeerLink} per
 * remote peer (a full mesh), owns the microphone stream, the AudioContext,
 * the `<audio>` elements and the timers, and writes what happens into the
 * models. The UI only reads models and calls the methods here.
 *
 * Invariant: no RTCPeerConnection's life depends on the WebSocket. While
 * the socket is down, audio keeps flowing and outgoing signals wait in a
 * queue until the session is resumed.
 *
 * @module
 */
import { effect } from "@preact/signals";
import { type Audio, pickDevice } from "./audio_model.ts";
import type { Connection } from "./connection_model.ts";
import {
  describeMicError,
  LevelMeter,
  listDevices,
  openMicrophone,
  unsupportedReason,
} from "./media.ts";
import {
  hasTurnServer,
  isPolite,
  parseSignalData,
  planAfterJoin,
  type SignalData,
  turnFailureNote,
} from "./negotiation.ts";
import { CONNECT_TIMEOUT_MS, PeerLink } from "./peer_link.ts";
import { NoiseFilter, resumeNoiseFilter } from "./noise_filter.ts";
import { callCertificate, type PeerChannels } from "./peer_channels.ts";
import { audioTuningEnabled } from "./audio_codecs.ts";
import { saveSession } from "./prefs.ts";
import { findParticipant, type Room } from "./room_model.ts";
import { SignalingClient } from "./signaling_client.ts";
import { afterPrevious } from "./serial.ts";
import {
  CLOSE,
  type IceServersMessage,
  type JoinedMessage,
  type ServerMessage,
} from "../signaling/protocol.ts";
import { deriveStats, type PeerStats } from "./stats.ts";
import { isValidRoom } from "./room_id.ts";

/** Outgoing signals kept while the socket is down, at most. */
const OUTBOX_LIMIT = 500;
const LEVEL_INTERVAL_MS = 100;
const STATS_INTERVAL_MS = 1_000;
/** Watchdog restarts of one peer's connection before giving up. */
const MAX_STUCK = 3;
/** Fresh connections after a connect timeout before giving up. */
const MAX_TIMEOUT_RETRIES = 1;

interface Remote {
  link?: PeerLink;
  /** The handling of this peer's incoming signals, in order. */
  inbox?: Promise<void>;
  /** Watchdog restarts in a row without getting connected. */
  stuck?: number;
  /** Connect timeouts in a row without getting connected. */
  timeouts?: number;
  /** Error codes TURN servers answered this peer's connections with. */
  turnErrors?: number[];
  element?: HTMLAudioElement;
  meter?: LevelMeter;
  stream?: MediaStream;
  stats?: PeerStats;
  /** Shows a Try again that got no answer as failed again. */
  retryTimer?: ReturnType<typeof setTimeout>;
}

/** Events that count as a user gesture for the autoplay policies. */
const GESTURES = ["pointerdown", "keydown"] as const;

/**
 * An `<audio>` element for one peer's stream. `autoplay` and `playsinline`
 * keep iOS Safari from waiting for a tap per element or going fullscreen.
 */
export function createRemoteAudio(peerId: string): HTMLAudioElement {
  const element = document.createElement("audio");
  element.dataset.peerId = peerId;
  element.autoplay = true;
  element.setAttribute("playsinline", "");
  return element;
}

/** How to join: a fresh peer, or resuming a stored session. */
export interface JoinRequest {
  room: string;
  name: string;
  token?: string;
}

/** The call controller. */
export class Call {
  readonly #connection: Connection;
  readonly #room: Room;
  readonly #audio: Audio;
  #client: SignalingClient | undefined;
  #joinedSocket = false;
  #token = "";
  #name = "";
  #outbox: { to: string; data: SignalData }[] = [];
  #remotes = new Map<string, Remote>();
  #mic: MediaStream | undefined;
  #sendTrack: MediaStreamTrack | undefined;
  /** RNNoise on the microphone, when switched on; its track is sent. */
  #filter: NoiseFilter | undefined;
  #sendStream = new MediaStream();
  #micMeter: LevelMeter | undefined;
  #context: AudioContext | undefined;
  #timers: ReturnType<typeof setInterval>[] = [];
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #micChain: Promise<void> = Promise.resolve();
  #disposers: (() => void)[] = [];
  #audioHolder: HTMLElement;
  #certificates: RTCCertificate[] = [];
  readonly #channels: PeerChannels | undefined;
  /** One DTLS certificate for every connection (one safety fingerprint). */
  #certificate: Promise<RTCCertificate | undefined> | undefined;

  constructor(
    connection: Connection,
    room: Room,
    audio: Audio,
    channels?: PeerChannels,
  ) {
    this.#channels = channels;
    this.#connection = connection;
    this.#room = room;
    this.#audio = audio;
    this.#audioHolder = document.createElement("div");
    this.#audioHolder.hidden = true;
    document.body.append(this.#audioHolder);
    audio.canChooseSpeaker.value = "setSinkId" in HTMLMediaElement.prototype;
    this.#watchSettings();
    this.#timers.push(
      setInterval(() => this.#pollLevels(), LEVEL_INTERVAL_MS),
      setInterval(() => this.#pollStats(), STATS_INTERVAL_MS),
    );
    this.#listen(globalThis, "online", () => {
      this.#client?.retryNow();
      for (const remote of this.#remotes.values()) remote.link?.restartIce();
    });
    this.#listen(globalThis, "pagehide", (event) => {
      // A page kept in the back/forward cache may come back: stay a member.
      if ((event as PageTransitionEvent).persisted) return;
      // A reload and a closed tab look the same here: leave "on unload", so
      // the server keeps the session a few seconds for a reload to resume.
      if (this.#joinedSocket) {
        this.#client?.send({ type: "leave", unload: true });
      }
    });
    if (navigator.mediaDevices) {
      this.#listen(
        navigator.mediaDevices,
        "devicechange",
        () => this.refreshDevices(),
      );
    }
    // Any click or key counts as the gesture that lets blocked audio start
    // (Safari keeps an AudioContext suspended and rejects play() until one).
    for (const type of GESTURES) {
      this.#listen(document, type, () => this.resumePlayback());
    }
  }

  /** Opens the microphone for the check on the start page (a gesture). */
  async checkMicrophone(): Promise<boolean> {
    const reason = unsupportedReason();
    if (reason) {
      this.#connection.fail(reason);
      return false;
    }
    this.#ensureContext();
    try {
      await this.#openMic();
      this.#connection.error.value = "";
      await this.refreshDevices();
      return true;
    } catch (error) {
      this.#connection.fail(describeMicError(error));
      return false;
    }
  }

  /** Joins `request.room` (from a click, so audio may play). */
  async join(request: JoinRequest): Promise<void> {
    const connection = this.#connection;
    if (!isValidRoom(request.room)) {
      connection.fail(
        "Enter a room ID of 1–64 letters, digits, '-' or '_' (or create a room).",
      );
      return;
    }
    connection.phase.value = "joining";
    connection.room.value = request.room;
    if (!this.#mic && !(await this.checkMicrophone())) {
      connection.phase.value = "start";
      return;
    }
    this.#name = request.name;
    this.#token = request.token ?? "";
    this.#certificate ??= callCertificate();
    const certificate = await this.#certificate;
    this.#certificates = certificate ? [certificate] : [];
    const url = new URL("/ws", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.#client?.stop();
    this.#client = new SignalingClient(url.href, {
      onOpen: () => this.#sendJoin(),
      onMessage: (message) => this.#onMessage(message),
      onStatus: (status, code) => this.#onStatus(status, code),
    });
    this.#client.start();
  }

  /** Locks or unlocks the room (the host only; the server checks). */
  setLocked(locked: boolean): void {
    if (this.#joinedSocket) this.#client?.send({ type: "lock", locked });
  }

  /** Answers a knock on our locked room. */
  answerKnock(knockId: string, admit: boolean): void {
    if (!this.#joinedSocket) return;
    this.#client?.send({ type: admit ? "admit" : "deny", knockId });
    this.#connection.endKnock(knockId);
  }

  /** Removes a member from the room (the host only; the server checks). */
  remove(peerId: string): void {
    if (this.#joinedSocket) this.#client?.send({ type: "remove", peerId });
  }

  /** Leaves the room for good and returns to the start page. */
  leave(): void {
    if (this.#joinedSocket) this.#client?.send({ type: "leave" });
    this.#endCall();
    this.#connection.error.value = "";
  }

  /** Re-reads the device lists and falls back when a chosen one is gone. */
  async refreshDevices(): Promise<void> {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    const { mics, speakers } = await listDevices();
    const audio = this.#audio;
    audio.mics.value = mics;
    audio.speakers.value = speakers;
    audio.micId.value = pickDevice(audio.micId.peek(), mics);
    audio.speakerId.value = pickDevice(audio.speakerId.peek(), speakers);
  }

  /** Starts remote audio the autoplay policy held back. */
  resumePlayback(): void {
    if (this.#context?.state === "suspended") {
      this.#context.resume().catch(() => {});
    }
    resumeNoiseFilter();
    for (const remote of this.#remotes.values()) {
      if (remote.element?.paused) remote.element.play().catch(() => {});
    }
    this.#audio.playbackBlocked.value = false;
  }

  /**
   * Tries a failed peer again, from a click: forgets the failures and asks
   * the peer for a fresh connection (a hello: the peer offers afresh, as
   * after a reload). Without an answer, it shows as failed again.
   */
  retry(peerId: string): void {
    const participant = findParticipant(this.#room, peerId);
    const remote = this.#remotes.get(peerId) ?? {};
    this.#remotes.set(peerId, remote);
    remote.stuck = 0;
    remote.timeouts = 0;
    remote.turnErrors = [];
    this.#closeLink(peerId);
    this.#sendSignal(peerId, { hello: true });
    if (!participant) return;
    const note = participant.note.peek();
    participant.state.value = "connecting";
    participant.note.value = "";
    clearTimeout(remote.retryTimer);
    remote.retryTimer = setTimeout(() => {
      if (!remote.link && participant.state.peek() === "connecting") {
        participant.state.value = "failed";
        participant.note.value = note;
      }
    }, 2 * CONNECT_TIMEOUT_MS);
  }

  /** Peer connections, for diagnostics. */
  get links(): PeerLink[] {
    return [...this.#remotes.values()].flatMap((r) => r.link ? [r.link] : []);
  }

  // ---- signaling ----

  #sendJoin(): void {
    const room = this.#connection.room.peek();
    this.#client?.send(
      this.#token
        ? { type: "join", room, token: this.#token }
        : { type: "join", room, name: this.#name },
    );
  }

  #onStatus(status: string, code?: number): void {
    const connection = this.#connection;
    if (status !== "open") this.#joinedSocket = false;
    connection.status.value = status as typeof connection.status.value;
    if (status === "reconnecting" && connection.phase.peek() === "joining") {
      connection.fail("Cannot reach the Parley server. Retrying…");
    }
    if (status === "closed" && code !== undefined) {
      const message = code === CLOSE.replaced.code
        ? "This call was opened in another tab, so it ended here."
        : code === CLOSE.removed.code
        ? "The host removed you from this room."
        : `The server closed the connection (code ${code}).`;
      this.#endCall();
      connection.fail(message);
    }
  }

  #onMessage(message: ServerMessage): void {
    switch (message.type) {
      case "joined":
        return this.#onJoined(message);
      case "ice-servers":
        return this.#setIceServers(message);
      case "peer-joined": {
        const peerId = message.peerId;
        this.#room.add(peerId, message.name);
        this.#connect(peerId, true);
        return;
      }
      case "peer-left":
        return this.#drop(message.peerId, true);
      case "signal":
        return this.#onSignal(message.from, message.data);
      case "error":
        return this.#onError(message.code, message.message);
      case "room":
        this.#connection.host.value = message.host ?? "";
        this.#connection.locked.value = message.locked;
        return;
      case "knocking":
        this.#connection.knocking.value = true;
        this.#connection.error.value = "";
        return;
      case "knock":
        this.#connection.addKnock({
          knockId: message.knockId,
          name: message.name,
        });
        return;
      case "knock-ended":
        this.#connection.endKnock(message.knockId);
        return;
    }
  }

  #onJoined(message: JoinedMessage): void {
    const connection = this.#connection;
    const peers = message.peers;
    this.#joinedSocket = true;
    this.#client?.joined();
    this.#token = message.token;
    connection.selfId.value = message.peerId;
    connection.error.value = "";
    connection.host.value = message.host ?? "";
    connection.locked.value = message.locked;
    connection.knocking.value = false;
    if (!message.resumed) connection.knocks.value = [];
    const firstJoin = connection.phase.peek() !== "call";
    connection.phase.value = "call";
    saveSession({
      room: connection.room.peek(),
      token: this.#token,
      name: this.#name,
    });
    this.#client?.setPingInterval(message.limits.pingIntervalMs);
    connection.resumeGraceMs.value = message.limits.resumeGraceMs;
    this.#setIceServers(message);

    if (message.resumed !== true) {
      // A new identity (first join, or the old session expired): nobody
      // knows our connections any more; the members will offer afresh.
      for (const id of [...this.#remotes.keys()]) this.#drop(id, false);
      this.#outbox = [];
    }
    const plan = planAfterJoin(
      message.resumed === true,
      peers.map((p) => p.peerId),
      [...this.#remotes].flatMap(([id, r]) => r.link ? [id] : []),
    );
    for (const id of this.#remotes.keys()) {
      if (!peers.some((p) => p.peerId === id)) this.#drop(id, true);
    }
    for (const id of plan.close) this.#drop(id, true);
    for (const known of this.#room.participants.peek()) {
      if (!peers.some((p) => p.peerId === known.peerId)) {
        this.#room.remove(known.peerId);
      }
    }
    for (const peer of peers) {
      this.#room.add(peer.peerId, peer.name, !firstJoin);
    }
    for (const id of plan.hello) this.#sendSignal(id, { hello: true });
    // Signals produced while the socket was down go out now, in order.
    for (const { to, data } of this.#outbox.splice(0)) {
      this.#sendSignal(to, data);
    }
  }

  #setIceServers(message: JoinedMessage | IceServersMessage): void {
    const servers: RTCIceServer[] = message.iceServers;
    this.#connection.iceServers.value = servers;
    for (const remote of this.#remotes.values()) {
      remote.link?.setConfiguration({ iceServers: servers });
    }
    clearTimeout(this.#refreshTimer);
    const ttl = message.iceServersTtlMs ?? 0;
    if (ttl > 0) {
      // TURN credentials expire: ask again at four fifths of their life.
      this.#refreshTimer = setTimeout(() => {
        if (this.#joinedSocket) this.#client?.send({ type: "ice-servers" });
      }, ttl * 0.8);
    }
  }

  #onError(code: string, text: string): void {
    const connection = this.#connection;
    switch (code) {
      case "room-full":
        this.#endCall();
        connection.fail(
          "This room is full. Ask someone to leave, or create another room.",
        );
        return;
      case "invalid-token":
        // The session expired (or we left): join as a new peer.
        this.#token = "";
        this.#sendJoin();
        return;
      case "unavailable":
      case "rate-limited":
        if (!this.#joinedSocket) {
          // Say why the join waits (a busy room's knocks, say), and retry.
          if (code === "rate-limited") connection.fail(`${text}. Retrying…`);
          setTimeout(() => {
            if (this.#client?.open && !this.#joinedSocket) this.#sendJoin();
          }, 2_000);
        }
        return;
      case "invalid-room":
      case "invalid-name":
      case "knock-denied":
      case "knock-timeout":
        this.#endCall();
        connection.fail(
          code === "knock-denied" ? "The host did not let you in." : text,
        );
        return;
      case "not-host":
        // Someone else hosts now; the `room` message says who.
        connection.fail("Only the room's host can do that.");
        return;
      default:
        console.warn(`parley: server error ${code}: ${text}`);
    }
  }

  #onSignal(from: string, raw: unknown): void {
    const data = parseSignalData(raw);
    if (!data) return;
    if ("muted" in data) {
      const participant = findParticipant(this.#room, from);
      if (participant) participant.muted.value = data.muted;
      return;
    }
    if ("hello" in data) {
      // The sender has no connection to us (reload or watchdog): start over.
      this.#closeLink(from);
      this.#connect(from, true);
      return;
    }
    const isOffer = "description" in data && data.description.type === "offer";
    const remote = this.#remotes.get(from) ?? {};
    this.#remotes.set(from, remote);
    // One peer's signals are handled one after another, so candidates
    // always reach the connection their description went to.
    remote.inbox = afterPrevious(remote.inbox, async () => {
      let link = remote.link;
      if (!link) {
        if (!isOffer || this.#remotes.get(from) !== remote) return;
        link = this.#connect(from, false);
      }
      const applied = await link.signal(data);
      // An offer that does not fit this connection (it belongs to a new
      // connection of the peer's) gets a fresh connection of ours.
      if (!applied && isOffer && remote.link === link) {
        await this.#connect(from, false).signal(data);
      }
    }, (error) => {
      // Without this catch one rejected step would stop every later signal
      // from this peer for the rest of the call. The connection it was for
      // is in an unknown state: start over as the watchdog does, closing
      // ours and asking the peer with a hello to offer afresh (offering
      // ourselves could collide with an offer of theirs in flight).
      console.warn(`parley: signal from ${from} failed`, error);
      if (this.#remotes.get(from) !== remote) return;
      this.#closeLink(from);
      this.#sendSignal(from, { hello: true });
    });
  }

  #sendSignal(to: string, data: SignalData): void {
    if (
      this.#joinedSocket && this.#client?.send({ type: "signal", to, data })
    ) {
      return;
    }
    if (this.#outbox.length < OUTBOX_LIMIT) this.#outbox.push({ to, data });
  }

  // ---- peers ----

  #connect(peerId: string, initiator: boolean): PeerLink {
    this.#closeLink(peerId);
    if (!findParticipant(this.#room, peerId)) this.#room.add(peerId, "", false);
    const participant = findParticipant(this.#room, peerId);
    const iceServers = this.#connection.iceServers.peek();
    const relayOnly = this.#audio.privateMode.peek();
    const noRelay = relayOnly && !hasTurnServer(iceServers);
    const remote = this.#remotes.get(peerId) ?? {};
    this.#remotes.set(peerId, remote);
    if (participant) {
      participant.state.value = "connecting";
      participant.note.value = "";
    }
    const link = new PeerLink({
      remoteId: peerId,
      polite: isPolite(this.#connection.selfId.peek(), peerId),
      initiator,
      tuneAudio: audioTuningEnabled(),
      config: {
        iceServers,
        iceTransportPolicy: relayOnly ? "relay" : "all",
        certificates: this.#certificates,
      },
      track: this.#sendTrack ?? this.#silentTrack(),
      stream: this.#sendStream,
      onSignal: (data) => {
        if (remote.link === link) this.#sendSignal(peerId, data);
      },
      onRemoteStream: (stream) => this.#play(peerId, stream),
      onState: (state) => {
        if (!participant || remote.link !== link) return;
        if (state === "connected") {
          remote.stuck = 0;
          remote.timeouts = 0;
          remote.turnErrors = [];
          // A fresh connection: tell the peer we are muted, if we are.
          if (this.#audio.muted.peek()) {
            this.#sendSignal(peerId, { muted: true });
          }
        }
        participant.state.value = state;
        if (noRelay) return;
        participant.note.value = state === "failed"
          ? this.#failureNote(remote)
          : "";
      },
      onIceError: (errorCode, url) => {
        if (/^turns?:/i.test(url)) {
          (remote.turnErrors ??= []).push(errorCode);
        }
      },
      onStuck: (reason) => {
        if (remote.link !== link) return;
        // Relay only without a TURN server gathers nothing, by design; and
        // a peer that stays stuck is not helped by ever more restarts.
        const giveUp = noRelay ||
          (reason === "timeout"
            ? (remote.timeouts = (remote.timeouts ?? 0) + 1) >
              MAX_TIMEOUT_RETRIES
            : (remote.stuck = (remote.stuck ?? 0) + 1) > MAX_STUCK);
        if (giveUp) {
          if (participant) {
            participant.state.value = "failed";
            if (!noRelay) participant.note.value = this.#failureNote(remote);
          }
          return;
        }
        // Start over, and ask the peer to offer afresh.
        this.#closeLink(peerId);
        this.#sendSignal(peerId, { hello: true });
        if (participant && reason === "timeout") {
          participant.state.value = "failed";
          participant.note.value = `Could not connect within ${
            CONNECT_TIMEOUT_MS / 1000
          } seconds. Trying once more…`;
        }
      },
    });
    remote.link = link;
    this.#channels?.attach(peerId, link);
    if (noRelay && participant) {
      participant.note.value =
        "Private mode sends audio only through a TURN relay, and this server offers none: turn Private mode off (then rejoin), or ask for a TURN server.";
    }
    return link;
  }

  /** Why a connection to a peer failed, in words its user can act on. */
  #failureNote(remote: Remote): string {
    if (!hasTurnServer(this.#connection.iceServers.peek())) {
      return "No direct connection is possible between you two, and this server offers no TURN relay. A TURN server is needed for this network.";
    }
    return turnFailureNote(remote.turnErrors ?? []);
  }

  #closeLink(peerId: string): void {
    const remote = this.#remotes.get(peerId);
    if (!remote?.link) return;
    remote.link.close();
    remote.link = undefined;
    remote.stats = undefined;
  }

  #drop(peerId: string, announce: boolean): void {
    this.#closeLink(peerId);
    this.#channels?.forget(peerId);
    const remote = this.#remotes.get(peerId);
    if (remote) {
      clearTimeout(remote.retryTimer);
      remote.meter?.close();
      remote.element?.remove();
      if (remote.element) remote.element.srcObject = null;
      this.#remotes.delete(peerId);
    }
    if (announce) this.#room.remove(peerId);
  }

  #play(peerId: string, stream: MediaStream): void {
    const remote = this.#remotes.get(peerId);
    if (!remote) return;
    if (!remote.element) {
      remote.element = createRemoteAudio(peerId);
      this.#audioHolder.append(remote.element);
    }
    const element = remote.element;
    const participant = findParticipant(this.#room, peerId);
    element.volume = participant?.volume.peek() ?? 1;
    this.#applySink(element);
    if (element.srcObject !== stream) {
      element.srcObject = stream;
      remote.meter?.close();
      remote.meter = this.#context
        ? new LevelMeter(this.#context, stream)
        : undefined;
    }
    element.play().catch(() => {
      this.#audio.playbackBlocked.value = true;
    });
  }

  #applySink(element: HTMLAudioElement): void {
    const sinkId = this.#audio.speakerId.peek();
    const withSink = element as HTMLAudioElement & {
      setSinkId?: (id: string) => Promise<void>;
    };
    withSink.setSinkId?.(sinkId).catch((error: unknown) =>
      console.warn("parley: setSinkId failed", error)
    );
  }

  // ---- microphone ----

  #ensureContext(): void {
    if (!this.#context) {
      this.#context = new AudioContext();
    } else if (this.#context.state === "suspended") {
      this.#context.resume().catch(() => {});
    }
  }

  async #openMic(): Promise<void> {
    const audio = this.#audio;
    const mic = await openMicrophone({
      deviceId: audio.micId.peek(),
      echoCancellation: audio.echoCancellation.peek(),
      noiseSuppression: audio.noiseSuppression.peek(),
      autoGainControl: audio.autoGainControl.peek(),
    });
    const [track] = mic.getAudioTracks();
    // The meter hears the microphone itself; the others hear a clone (or
    // the noise filter's output) that mute disables, so "you are muted" can
    // still notice speech.
    const filter = await this.#startFilter(track);
    const sendTrack = filter?.track ?? track.clone();
    sendTrack.enabled = audio.sending.peek();
    const old = this.#mic;
    const oldSend = this.#sendTrack;
    const oldFilter = this.#filter;
    this.#mic = mic;
    this.#sendTrack = sendTrack;
    this.#filter = filter;
    for (const t of this.#sendStream.getTracks()) {
      this.#sendStream.removeTrack(t);
    }
    this.#sendStream.addTrack(sendTrack);
    await Promise.all(this.links.map((link) => link.replaceTrack(sendTrack)));
    this.#micMeter?.close();
    this.#micMeter = this.#context
      ? new LevelMeter(this.#context, mic)
      : undefined;
    old?.getTracks().forEach((t) => t.stop());
    oldSend?.stop();
    oldFilter?.close();
    track.onended = () => {
      // Unplugged: reopen the default microphone, if that exists.
      if (this.#mic === mic) {
        audio.micId.value = "";
        this.#reopenMic();
      }
    };
    audio.micLive.value = true;
  }

  /**
   * RNNoise on `track` when the user wants it; without it (switched off, or
   * it cannot load here) the microphone is sent unfiltered and the state
   * says which.
   */
  async #startFilter(
    track: MediaStreamTrack,
  ): Promise<NoiseFilter | undefined> {
    const state = this.#audio.noiseFilterState;
    if (!this.#audio.noiseFilter.peek()) {
      state.value = "off";
      return undefined;
    }
    state.value = "loading";
    try {
      const filter = await NoiseFilter.create(track);
      state.value = "on";
      return filter;
    } catch (error) {
      console.warn("parley: the noise filter could not start", error);
      state.value = "failed";
      return undefined;
    }
  }

  #reopenMic(): void {
    if (!this.#mic) return;
    this.#micChain = this.#micChain.then(() => this.#openMic()).catch(
      (error) => this.#connection.fail(describeMicError(error)),
    );
  }

  #closeMic(): void {
    this.#micMeter?.close();
    this.#micMeter = undefined;
    this.#mic?.getTracks().forEach((t) => t.stop());
    this.#sendTrack?.stop();
    this.#filter?.close();
    this.#mic = undefined;
    this.#sendTrack = undefined;
    this.#filter = undefined;
    this.#audio.micLive.value = false;
    this.#audio.localLevel.value = 0;
  }

  /** A track to send before the microphone opens (never, in practice). */
  #silentTrack(): MediaStreamTrack {
    this.#ensureContext();
    const context = this.#context as AudioContext;
    return context.createMediaStreamDestination().stream.getAudioTracks()[0];
  }

  #watchSettings(): void {
    const audio = this.#audio;
    let first = true;
    this.#disposers.push(
      effect(() => {
        const enabled = audio.sending.value;
        if (this.#sendTrack) this.#sendTrack.enabled = enabled;
      }),
      effect(() => {
        // The others' tiles show our mute; a new peer hears it on connect.
        const muted = audio.muted.value;
        for (const [peerId, remote] of this.#remotes) {
          if (remote.link) this.#sendSignal(peerId, { muted });
        }
      }),
      effect(() => {
        // Read every option so a change to any of them reopens the mic.
        void [
          audio.micId.value,
          audio.echoCancellation.value,
          audio.noiseSuppression.value,
          audio.autoGainControl.value,
          audio.noiseFilter.value,
        ];
        if (first) {
          first = false;
          return;
        }
        this.#reopenMic();
      }),
      effect(() => {
        void audio.speakerId.value;
        for (const remote of this.#remotes.values()) {
          if (remote.element) this.#applySink(remote.element);
        }
      }),
      effect(() => {
        for (const participant of this.#room.participants.value) {
          const volume = participant.volume.value;
          const element = this.#remotes.get(participant.peerId)?.element;
          if (element) element.volume = volume;
        }
      }),
    );
  }

  // ---- polling ----

  #pollLevels(): void {
    this.#audio.localLevel.value = this.#micMeter?.read() ?? 0;
    for (const participant of this.#room.participants.peek()) {
      const meter = this.#remotes.get(participant.peerId)?.meter;
      participant.level.value = meter?.read() ?? 0;
    }
  }

  async #pollStats(): Promise<void> {
    for (const [peerId, remote] of this.#remotes) {
      const link = remote.link;
      if (!link) continue;
      try {
        const report = await link.pc.getStats();
        if (remote.link !== link) continue;
        const stats = deriveStats(
          [...report.values()] as Parameters<typeof deriveStats>[0],
          remote.stats,
        );
        remote.stats = stats;
        link.noteLoss(stats.lossPercent);
        const participant = findParticipant(this.#room, peerId);
        if (participant) participant.stats.value = stats;
      } catch {
        // Closed meanwhile.
      }
    }
  }

  // ---- teardown ----

  #endCall(): void {
    this.#client?.stop();
    this.#client = undefined;
    this.#joinedSocket = false;
    this.#token = "";
    this.#outbox = [];
    clearTimeout(this.#refreshTimer);
    for (const peerId of [...this.#remotes.keys()]) this.#drop(peerId, false);
    this.#channels?.clear();
    this.#room.clear();
    saveSession(undefined);
    this.#closeMic();
    const connection = this.#connection;
    connection.phase.value = "start";
    connection.status.value = "idle";
    connection.selfId.value = "";
    connection.resetControls();
  }

  #listen(
    target: EventTarget,
    type: string,
    listener: (event: Event) => void,
  ): void {
    target.addEventListener(type, listener);
    this.#disposers.push(() => target.removeEventListener(type, listener));
  }

  /** Ends everything: the call, timers, listeners and effects. */
  dispose(): void {
    this.#endCall();
    for (const timer of this.#timers) clearInterval(timer);
    for (const dispose of this.#disposers.splice(0)) dispose();
    this.#context?.close().catch(() => {});
    this.#audioHolder.remove();
  }
}

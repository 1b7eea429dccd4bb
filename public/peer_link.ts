/**
 * One RTCPeerConnection to one remote peer, with the signaling seam of
 * simple-peer: it emits outgoing signals through `onSignal` and takes
 * incoming ones through {@linkcode PeerLink.signal}; it never sees the
 * WebSocket. Negotiation follows the perfect negotiation pattern
 * (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example), but the
 * first offer always comes from the initiator (the member already in the
 * room): an initial glare can stall ICE for good in Chromium.
 *
 * @module
 */
import { RedSwitch, tuneAudioTransceiver, withDtx } from "./audio_codecs.ts";
import { IceRestartPolicy, iceUfrag } from "./ice_restart.ts";
import { isOfferCollision, type SignalData } from "./negotiation.ts";

/** A connection's state as the participant list shows it. */
export type LinkState = "connecting" | "connected" | "reconnecting" | "failed";

/** Gathering nothing for this long means a stuck connection. */
export const WATCHDOG_MS = 5_000;
/**
 * A connection not connected this long after it starts (or after an ICE
 * restart, while it has never connected) counts as failed. A remote that offers only candidates this browser
 * cannot use (say, `.local` names nobody resolves) leaves it in `new` or
 * `checking` for good, with no event: ICE never fails on its own there.
 */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The data channel's fixed ID: both sides create it (`negotiated`), so it
 * needs no offer of its own and cannot cause glare (`peer_channels.ts`).
 */
export const CHANNEL_ID = 0;

/** Why a connection gave up: nothing gathered, or no connection in time. */
export type StuckReason = "gathered-nothing" | "timeout";

/** Options for {@linkcode PeerLink}. */
export interface PeerLinkOptions {
  remoteId: string;
  /** Whether this side rolls back on an offer collision. */
  polite: boolean;
  /** Whether this side creates the first offer. */
  initiator: boolean;
  config: RTCConfiguration;
  /**
   * Whether to ask for RED under loss and send with DTX (see
   * `audio_codecs.ts`). @default true
   */
  tuneAudio?: boolean;
  /** The track to send (added before the first offer or answer). */
  track: MediaStreamTrack;
  stream: MediaStream;
  onSignal(data: SignalData): void;
  onRemoteStream(stream: MediaStream): void;
  onState(state: LinkState): void;
  /**
   * The connection is stuck: it gathered nothing (either side), or it did
   * not connect within {@linkcode CONNECT_TIMEOUT_MS} (only the impolite
   * side is told, so that one side starts over, not both). Replace it.
   */
  onStuck(reason: StuckReason): void;
  /** A STUN or TURN server answered a candidate request with an error. */
  onIceError?(errorCode: number, url: string): void;
}

/** One peer connection with perfect negotiation, watchdog and ICE restart. */
export class PeerLink {
  readonly remoteId: string;
  readonly pc: RTCPeerConnection;
  /** Chat, hands and the safety check travel here (`peer_channels.ts`). */
  readonly channel: RTCDataChannel;
  readonly #options: PeerLinkOptions;
  #makingOffer = false;
  #ignoreOffer = false;
  #trackAdded = false;
  #gathered = 0;
  #pending: (RTCIceCandidateInit | null)[] = [];
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #everConnected = false;
  readonly #restarts: IceRestartPolicy;
  #transceiver: RTCRtpTransceiver | undefined;
  readonly #red = new RedSwitch();
  #redAsked = false;
  #closed = false;
  /** Whether ICE ended in `failed` at least once. */
  failedOnce = false;

  constructor(options: PeerLinkOptions) {
    this.#options = options;
    this.remoteId = options.remoteId;
    // The impolite side leads restarts: its offer wins a collision anyway.
    this.#restarts = new IceRestartPolicy(!options.polite);
    const pc = new RTCPeerConnection(options.config);
    this.pc = pc;
    this.channel = pc.createDataChannel("parley", {
      negotiated: true,
      id: CHANNEL_ID,
    });
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.#gathered++;
      options.onSignal({ candidate: candidate ? candidate.toJSON() : null });
    };
    pc.onicecandidateerror = (event) => {
      const { errorCode, url } = event as RTCPeerConnectionIceErrorEvent;
      options.onIceError?.(errorCode, url ?? "");
    };
    pc.onnegotiationneeded = () => this.#negotiate();
    pc.ontrack = ({ track, streams }) => {
      options.onRemoteStream(streams[0] ?? new MediaStream([track]));
    };
    pc.onconnectionstatechange = () => this.#onConnectionState();
    pc.oniceconnectionstatechange = () => this.#onConnectionState();
    this.#watchdog = setTimeout(() => {
      if (this.#gathered === 0 && pc.connectionState !== "connected") {
        options.onStuck("gathered-nothing");
      }
    }, WATCHDOG_MS);
    this.#armConnectTimer();
    if (options.initiator) this.#addTrack();
  }

  /**
   * Takes an incoming signal from the remote peer. Resolves to false when a
   * description could not be applied (say, an offer from a brand-new
   * connection of the peer reaching this old one): the caller may start
   * over with a fresh connection.
   */
  async signal(data: SignalData): Promise<boolean> {
    if (this.#closed) return true;
    const pc = this.pc;
    if ("description" in data) {
      const description = data.description;
      const collision = isOfferCollision(
        description.type,
        this.#makingOffer,
        pc.signalingState,
      );
      this.#ignoreOffer = !this.#options.polite && collision;
      if (this.#ignoreOffer) return true;
      // The answerer's track goes in just before the offer is applied, so
      // the offer's m-line takes the sender and no second round is needed.
      if (description.type === "offer") this.#addTrack();
      // New credentials in an offer: the peer restarted ICE; no need for
      // ours (one restart per outage).
      const ufrag = iceUfrag(description.sdp);
      const current = iceUfrag(pc.remoteDescription?.sdp);
      if (description.type === "offer" && current && ufrag !== current) {
        this.#restarts.restarted();
      }
      try {
        // A polite peer's colliding offer is rolled back implicitly.
        await pc.setRemoteDescription(
          this.#options.tuneAudio === false
            ? description
            : { type: description.type, sdp: withDtx(description.sdp ?? "") },
        );
        if (this.#closed) return true;
        for (const candidate of this.#pending.splice(0)) {
          await this.#addCandidate(candidate);
        }
        if (description.type === "offer") {
          await pc.setLocalDescription();
          this.#send();
        }
      } catch (error) {
        console.warn("parley: negotiation failed", error);
        return false;
      }
    } else if ("candidate" in data) {
      // Trickled candidates may outrun the description they belong to.
      if (!pc.remoteDescription) this.#pending.push(data.candidate);
      else await this.#addCandidate(data.candidate);
    }
    return true;
  }

  /** Sends `track` instead of the current one, without renegotiating. */
  async replaceTrack(track: MediaStreamTrack): Promise<void> {
    for (const sender of this.pc.getSenders()) {
      if (sender.track?.kind === "audio" || sender.track === null) {
        await sender.replaceTrack(track);
      }
    }
  }

  /** Restarts ICE (a new offer with fresh credentials). */
  restartIce(): void {
    if (this.#closed) return;
    this.#restarts.restarted();
    this.pc.restartIce();
    // A restart of a connection that never connected is a fresh chance,
    // with its own deadline. One that did connect is in an outage: the
    // restart policy keeps trying for as long as it lasts, and a long
    // outage must not end the call for good.
    if (!this.#everConnected) this.#armConnectTimer();
  }

  /** Hands fresh ICE servers to the connection (for later restarts). */
  setConfiguration(config: RTCConfiguration): void {
    if (this.#closed) return;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), ...config });
    } catch (error) {
      console.warn("parley: setConfiguration failed", error);
    }
  }

  /** Closes the connection and its timers; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#watchdog);
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#connectTimer);
    this.pc.onicecandidate = null;
    this.pc.onnegotiationneeded = null;
    this.pc.ontrack = null;
    this.pc.onconnectionstatechange = null;
    this.pc.oniceconnectionstatechange = null;
    this.pc.close();
  }

  #armConnectTimer(): void {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = setTimeout(() => {
      if (this.#closed || this.pc.connectionState === "connected") return;
      this.failedOnce = true;
      this.#options.onState("failed");
      if (!this.#options.polite) this.#options.onStuck("timeout");
    }, CONNECT_TIMEOUT_MS);
  }

  #addTrack(): void {
    if (this.#trackAdded) return;
    this.#trackAdded = true;
    const sender = this.pc.addTrack(this.#options.track, this.#options.stream);
    this.#transceiver = this.pc.getTransceivers().find((t) =>
      t.sender === sender
    );
  }

  /**
   * Feeds the loss (%) measured on received audio to the RED switch; when
   * its decision changes, puts RED (or Opus) first in our descriptions and
   * renegotiates, so the peer sends what we ask for.
   */
  noteLoss(lossPercent: number | undefined): void {
    if (this.#closed || this.#options.tuneAudio === false) return;
    const wanted = this.#red.note(lossPercent);
    const transceiver = this.#transceiver;
    if (wanted === this.#redAsked || !transceiver) return;
    if (!tuneAudioTransceiver(transceiver, wanted)) return;
    this.#redAsked = wanted;
    // setCodecPreferences alone does not fire negotiationneeded.
    this.#renegotiate(10);
  }

  #renegotiate(attempts: number): void {
    if (this.#closed || attempts <= 0) return;
    if (this.pc.signalingState === "stable" && this.pc.remoteDescription) {
      void this.#negotiate();
    } else {
      setTimeout(() => this.#renegotiate(attempts - 1), 500);
    }
  }

  async #negotiate(): Promise<void> {
    // Only the initiator offers first; the answerer's first description is
    // its answer. Later renegotiations (ICE restarts) may come from either.
    if (!this.#options.initiator && !this.pc.remoteDescription) return;
    if (this.pc.signalingState !== "stable") return;
    try {
      this.#makingOffer = true;
      await this.pc.setLocalDescription();
      this.#send();
    } catch (error) {
      console.warn("parley: offer failed", error);
    } finally {
      this.#makingOffer = false;
    }
  }

  #send(): void {
    const description = this.pc.localDescription;
    if (description && !this.#closed) {
      this.#options.onSignal({ description: description.toJSON() });
    }
  }

  async #addCandidate(candidate: RTCIceCandidateInit | null): Promise<void> {
    try {
      await this.pc.addIceCandidate(candidate ?? undefined);
    } catch (error) {
      if (!this.#ignoreOffer) console.warn("parley: bad candidate", error);
    }
  }

  #onConnectionState(): void {
    if (this.#closed) return;
    const pc = this.pc;
    const state = pc.connectionState;
    if (state === "connected") {
      this.#everConnected = true;
      clearTimeout(this.#connectTimer);
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
      this.#restarts.connected();
      this.#options.onState("connected");
    } else if (state === "failed" || pc.iceConnectionState === "failed") {
      this.failedOnce = true;
      this.#options.onState("failed");
      this.#scheduleRestart(this.#restarts.trouble("failed"));
    } else if (state === "disconnected") {
      this.#options.onState("reconnecting");
      this.#scheduleRestart(this.#restarts.trouble("disconnected"));
    } else if (state === "new" || state === "connecting") {
      this.#options.onState(
        this.failedOnce ? "reconnecting" : "connecting",
      );
    }
  }

  /** One pending restart check at a time (see `ice_restart.ts`). */
  #scheduleRestart(delayMs: number): void {
    clearTimeout(this.#restartTimer);
    if (!Number.isFinite(delayMs)) return;
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#closed || this.pc.connectionState === "connected") return;
      const due = this.#restarts.due();
      if (due === 0) {
        this.restartIce();
        this.#scheduleRestart(this.#restarts.due());
      } else {
        this.#scheduleRestart(due);
      }
    }, delayMs);
  }
}

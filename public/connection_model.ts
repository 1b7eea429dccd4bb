/**
 * State of the signaling connection and of this client's session: which
 * screen shows, the socket's status, our peer ID, the latest ICE servers and
 * the message the user should read.
 *
 * @module
 */
import { action, computed, createModel, signal } from "@preact/signals";
import type { SocketStatus } from "./signaling_client.ts";

/** Someone knocking on our locked room (we host it). */
export interface KnockRequest {
  knockId: string;
  name: string;
}

/** Which screen shows. */
export type Phase = "start" | "joining" | "call";

/** The signaling connection model. */
export const ConnectionModel = createModel(() => {
  const phase = signal<Phase>("start");
  const status = signal<SocketStatus | "idle">("idle");
  const selfId = signal("");
  const room = signal("");
  const iceServers = signal<RTCIceServer[]>([]);
  /** How long the server keeps an away peer's session (`limits`). */
  const resumeGraceMs = signal(30_000);
  /** A problem the user should know about (shown in an alert). */
  const error = signal("");
  /** The room's host (a peer ID; ours when we host). */
  const host = signal("");
  /** Whether the room is locked (newcomers knock). */
  const locked = signal(false);
  /** While we wait for the host of a locked room to let us in. */
  const knocking = signal(false);
  /** Knocks waiting for our answer, oldest first (when we host). */
  const knocks = signal<KnockRequest[]>([]);
  /** Whether we host the room. */
  const isHost = computed(() =>
    selfId.value !== "" && host.value === selfId.value
  );
  /** Plain words for the signaling status. */
  const statusText = computed(() => {
    switch (status.value) {
      case "connecting":
        return "Connecting to the server…";
      case "open":
        if (phase.value === "call") return "Connected";
        return knocking.value ? "Waiting for the host…" : "Joining…";
      case "reconnecting":
        return "Reconnecting to the server… (the call continues)";
      default:
        return "";
    }
  });
  return {
    phase,
    status,
    selfId,
    room,
    iceServers,
    resumeGraceMs,
    error,
    host,
    locked,
    knocking,
    knocks,
    isHost,
    statusText,
    fail: action((message: string) => {
      error.value = message;
    }),
    /** Adds a knock to answer (once per ID). */
    addKnock: action((knock: KnockRequest) => {
      if (knocks.value.some((k) => k.knockId === knock.knockId)) return;
      knocks.value = [...knocks.value, knock];
    }),
    /** Takes a knock off the list (answered, timed out, or withdrawn). */
    endKnock: action((knockId: string) => {
      knocks.value = knocks.value.filter((k) => k.knockId !== knockId);
    }),
    /** Forgets the room's controls (the call ended). */
    resetControls: action(() => {
      host.value = "";
      locked.value = false;
      knocking.value = false;
      knocks.value = [];
    }),
  };
});

/** An instance of {@linkcode ConnectionModel}. */
export type Connection = InstanceType<typeof ConnectionModel>;

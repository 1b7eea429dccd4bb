/**
 * State of the signaling connection and of this client's session: which
 * screen shows, the socket's status, our peer ID, the latest ICE servers and
 * the message the user should read.
 *
 * @module
 */
import { action, computed, createModel, signal } from "@preact/signals";
import type { SocketStatus } from "./signaling_client.ts";

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
  /** Plain words for the signaling status. */
  const statusText = computed(() => {
    switch (status.value) {
      case "connecting":
        return "Connecting to the server…";
      case "open":
        return phase.value === "call" ? "Connected" : "Joining…";
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
    statusText,
    fail: action((message: string) => {
      error.value = message;
    }),
  };
});

/** An instance of {@linkcode ConnectionModel}. */
export type Connection = InstanceType<typeof ConnectionModel>;

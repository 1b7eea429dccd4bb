/**
 * The other participants of the room and what we know about each: name,
 * connection state and path, statistics (with the last minute of them),
 * live level, playback volume and whether they muted. Join and leave are
 * also announced in words for screen readers.
 *
 * @module
 */
import {
  action,
  createModel,
  effect,
  type Signal,
  signal,
  untracked,
} from "@preact/signals";
import { displayName } from "./names.ts";
import type { LinkState } from "./peer_link.ts";
import type { PeerStats } from "./stats.ts";

/** Statistics samples kept per participant: one a second, one minute. */
export const HISTORY_SAMPLES = 60;

/**
 * How long after the default resume grace a lost peer may still be away
 * rather than unreachable: `peer-left` takes a moment to arrive.
 */
export const AWAY_SLACK_MS = 5_000;

/** One remote participant; every field the UI reads is a signal. */
export interface Participant {
  readonly peerId: string;
  readonly name: Signal<string>;
  readonly state: Signal<LinkState>;
  readonly stats: Signal<PeerStats | undefined>;
  /** The latest samples of `stats`, oldest first, at most a minute. */
  readonly history: Signal<PeerStats[]>;
  /** Live level of their audio, 0–1. */
  readonly level: Signal<number>;
  /** Playback volume, 0–1. */
  readonly volume: Signal<number>;
  /** An explanation for a failed connection, in plain words. */
  readonly note: Signal<string>;
  /** Whether they said they muted (a `{muted}` signal). */
  readonly muted: Signal<boolean>;
  /** Whether we were ever connected to them. */
  readonly everConnected: Signal<boolean>;
  /** When (epoch ms) a connection we had stopped working; 0 while fine. */
  readonly lostAt: Signal<number>;
}

/** What a participant's tile says about the connection. */
export type Presence = "connecting" | "connected" | "reconnecting" | "failed";

/**
 * What to show for a participant. A peer we were connected to and lost is
 * "reconnecting" for as long as the server could still be keeping its
 * session (its tab reloads, its network changes, its socket dropped): a
 * peer away for longer than the grace is removed with `peer-left`, so one
 * still listed after it is really unreachable and shows its own state.
 */
export function presenceOf(
  p: {
    state: LinkState;
    everConnected: boolean;
    lostAt: number;
  },
  now: number,
  graceMs: number,
): Presence {
  if (p.state === "connected") return "connected";
  if (
    p.everConnected && p.lostAt > 0 && now - p.lostAt < graceMs + AWAY_SLACK_MS
  ) {
    return "reconnecting";
  }
  return p.state;
}

/** The room model; `now` is the clock for `lostAt`. */
export const RoomModel = createModel((now: () => number = Date.now) => {
  const participants = signal<Participant[]>([]);
  /** The latest join/leave announcement (an aria-live region reads it). */
  const announcement = signal("");
  /** The per-participant bookkeeping effects, to dispose on removal. */
  const watchers = new Map<string, () => void>();
  const find = (peerId: string) =>
    untracked(() => participants.value.find((p) => p.peerId === peerId));

  function watch(p: Participant): () => void {
    const disposeHistory = effect(() => {
      const stats = p.stats.value;
      if (!stats) return;
      const kept = untracked(() => p.history.value);
      if (kept.at(-1) === stats) return;
      p.history.value = [...kept.slice(1 - HISTORY_SAMPLES), stats];
    });
    const disposeState = effect(() => {
      const state = p.state.value;
      untracked(() => {
        if (state === "connected") {
          p.everConnected.value = true;
          p.lostAt.value = 0;
        } else if (p.everConnected.value && p.lostAt.value === 0) {
          p.lostAt.value = now();
        }
      });
    });
    return () => {
      disposeHistory();
      disposeState();
    };
  }

  return {
    participants,
    announcement,
    /** Adds a participant (or renames a known one). */
    add: action((peerId: string, name: string, announce = true) => {
      const known = find(peerId);
      if (known) {
        known.name.value = name;
        return;
      }
      const participant: Participant = {
        peerId,
        name: signal(name),
        state: signal<LinkState>("connecting"),
        stats: signal<PeerStats | undefined>(undefined),
        history: signal<PeerStats[]>([]),
        level: signal(0),
        volume: signal(1),
        note: signal(""),
        muted: signal(false),
        everConnected: signal(false),
        lostAt: signal(0),
      };
      participants.value = [...participants.value, participant];
      watchers.set(peerId, watch(participant));
      if (announce) announcement.value = `${displayName(name, peerId)} joined`;
    }),
    /** Removes a participant. */
    remove: action((peerId: string) => {
      const known = find(peerId);
      if (!known) return;
      watchers.get(peerId)?.();
      watchers.delete(peerId);
      participants.value = participants.value.filter((p) => p !== known);
      announcement.value = `${displayName(known.name.value, peerId)} left`;
    }),
    clear: action(() => {
      for (const dispose of watchers.values()) dispose();
      watchers.clear();
      participants.value = [];
    }),
  };
});

/** An instance of {@linkcode RoomModel}. */
export type Room = InstanceType<typeof RoomModel>;

/** The participant with `peerId` in `room`, if any. */
export function findParticipant(
  room: Room,
  peerId: string,
): Participant | undefined {
  return room.participants.peek().find((p) => p.peerId === peerId);
}

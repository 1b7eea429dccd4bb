/**
 * The other participants of the room and what we know about each: name,
 * connection state and path, statistics, live level and playback volume.
 * Join and leave are also announced in words for screen readers.
 *
 * @module
 */
import {
  action,
  createModel,
  type Signal,
  signal,
  untracked,
} from "@preact/signals";
import type { LinkState } from "./peer_link.ts";
import type { PeerStats } from "./stats.ts";

/** One remote participant; every field the UI reads is a signal. */
export interface Participant {
  readonly peerId: string;
  readonly name: Signal<string>;
  readonly state: Signal<LinkState>;
  readonly stats: Signal<PeerStats | undefined>;
  /** Live level of their audio, 0–1. */
  readonly level: Signal<number>;
  /** Playback volume, 0–1. */
  readonly volume: Signal<number>;
  /** An explanation for a failed connection, in plain words. */
  readonly note: Signal<string>;
}

/** The display name of a participant, or a stand-in for an empty one. */
export function displayName(name: string): string {
  return name.trim() || "Guest";
}

/** The room model. */
export const RoomModel = createModel(() => {
  const participants = signal<Participant[]>([]);
  /** The latest join/leave announcement (an aria-live region reads it). */
  const announcement = signal("");
  const find = (peerId: string) =>
    untracked(() => participants.value.find((p) => p.peerId === peerId));
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
      participants.value = [...participants.value, {
        peerId,
        name: signal(name),
        state: signal<LinkState>("connecting"),
        stats: signal<PeerStats | undefined>(undefined),
        level: signal(0),
        volume: signal(1),
        note: signal(""),
      }];
      if (announce) announcement.value = `${displayName(name)} joined`;
    }),
    /** Removes a participant. */
    remove: action((peerId: string) => {
      const known = find(peerId);
      if (!known) return;
      participants.value = participants.value.filter((p) => p !== known);
      announcement.value = `${displayName(known.name.value)} left`;
    }),
    clear: action(() => {
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

import assert from "node:assert/strict";
import { defaultName } from "./names.ts";
import {
  AWAY_SLACK_MS,
  findParticipant,
  HISTORY_SAMPLES,
  presenceOf,
  RoomModel,
} from "./room_model.ts";
import type { PeerStats } from "./stats.ts";

const GRACE_MS = 30_000;

function sample(timestamp: number): PeerStats {
  return {
    timestamp,
    packetsReceived: 0,
    packetsLost: 0,
    bytesReceived: 0,
    bytesSent: 0,
  };
}

Deno.test("RoomModel.add() announces a default name for a nameless peer", () => {
  const room = new RoomModel();
  room.add("p1", "");
  assert.equal(room.announcement.value, `${defaultName("p1")} joined`);
  room.remove("p1");
  assert.equal(room.announcement.value, `${defaultName("p1")} left`);
});

Deno.test("RoomModel keeps one minute of statistics per participant", () => {
  const room = new RoomModel();
  room.add("p1", "Ada");
  const p = findParticipant(room, "p1");
  assert.ok(p);
  for (let i = 0; i < HISTORY_SAMPLES + 10; i++) p.stats.value = sample(i);
  assert.equal(p.history.value.length, HISTORY_SAMPLES);
  assert.equal(p.history.value[0].timestamp, 10);
  assert.equal(p.history.value.at(-1)?.timestamp, HISTORY_SAMPLES + 9);
});

Deno.test("RoomModel notes when a connection we had is lost, and clears it", () => {
  let clock = 1_000;
  const room = new RoomModel(() => clock);
  room.add("p1", "Ada");
  const p = findParticipant(room, "p1");
  assert.ok(p);
  p.state.value = "failed";
  assert.equal(p.lostAt.value, 0, "never connected: nothing was lost");
  p.state.value = "connected";
  assert.equal(p.everConnected.value, true);
  clock = 5_000;
  p.state.value = "reconnecting";
  p.state.value = "failed";
  assert.equal(p.lostAt.value, 5_000, "the first loss counts");
  p.state.value = "connected";
  assert.equal(p.lostAt.value, 0);
});

Deno.test("presenceOf() shows a lost peer as reconnecting within its grace", () => {
  const lost = { state: "failed" as const, everConnected: true, lostAt: 1_000 };
  assert.equal(presenceOf(lost, 2_000, GRACE_MS), "reconnecting");
  assert.equal(
    presenceOf({ ...lost, state: "connecting" }, 20_000, GRACE_MS),
    "reconnecting",
  );
  // Still listed after the grace: the server kept it, so it is unreachable.
  assert.equal(
    presenceOf(lost, 1_000 + GRACE_MS + AWAY_SLACK_MS, GRACE_MS),
    "failed",
  );
  // Never connected: the state as it is.
  assert.equal(
    presenceOf({ ...lost, everConnected: false, lostAt: 0 }, 2_000, GRACE_MS),
    "failed",
  );
  assert.equal(
    presenceOf({ ...lost, state: "connected" }, 2_000, GRACE_MS),
    "connected",
  );
});

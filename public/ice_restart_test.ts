import assert from "node:assert/strict";
import {
  DISCONNECTED_RESTART_MS,
  FOLLOWER_GRACE_MS,
  IceRestartPolicy,
  iceUfrag,
  RESTART_BACKOFF_MS,
} from "./ice_restart.ts";
import { FakeClock } from "../testing/wait.ts";

/**
 * Runs two sides of one connection through an outage of `outageMs`: both
 * see `disconnected` after `detectMs`, each restarts when due, and a
 * restart reaches the other side at once (signaling is not impaired).
 * Returns who restarted when (ms after the outage began).
 */
function outage(outageMs: number, detectMs = 7_000) {
  const clock = new FakeClock(0);
  const sides = [true, false].map((leader) => ({
    leader,
    policy: new IceRestartPolicy(leader, clock.now),
  }));
  const restarts: { leader: boolean; at: number }[] = [];
  for (let t = 0; t <= outageMs + 30_000; t += 100) {
    clock.advance(t === 0 ? 0 : 100);
    if (t === detectMs && t < outageMs) {
      for (const s of sides) s.policy.trouble("disconnected");
    }
    if (t === outageMs) { for (const s of sides) s.policy.connected(); }
    for (const s of sides) {
      if (s.policy.due() === 0) {
        restarts.push({ leader: s.leader, at: t });
        for (const each of sides) each.policy.restarted();
      }
    }
  }
  return restarts;
}

Deno.test("IceRestartPolicy makes one restart, the leader's, in a 15 s outage", () => {
  assert.deepEqual(outage(15_000), [
    { leader: true, at: 7_000 + DISCONNECTED_RESTART_MS },
  ]);
});

Deno.test("IceRestartPolicy makes none when the network returns before it is due", () => {
  assert.deepEqual(outage(9_000), []);
});

Deno.test("IceRestartPolicy restarts again only after the backoff in a long outage", () => {
  const restarts = outage(40_000);
  assert.ok(restarts.every((r) => r.leader), JSON.stringify(restarts));
  for (let i = 1; i < restarts.length; i++) {
    assert.ok(restarts[i].at - restarts[i - 1].at >= RESTART_BACKOFF_MS);
  }
  assert.equal(restarts.length, 3);
});

Deno.test("IceRestartPolicy lets the follower restart when the leader does not", () => {
  const clock = new FakeClock(0);
  const follower = new IceRestartPolicy(false, clock.now);
  assert.equal(follower.due(), Infinity);
  assert.equal(
    follower.trouble("disconnected"),
    DISCONNECTED_RESTART_MS + FOLLOWER_GRACE_MS,
  );
  clock.advance(1_000);
  // Repeated events of the same state do not push the restart back.
  assert.equal(
    follower.trouble("disconnected"),
    DISCONNECTED_RESTART_MS + FOLLOWER_GRACE_MS - 1_000,
  );
  clock.advance(DISCONNECTED_RESTART_MS + FOLLOWER_GRACE_MS);
  assert.equal(follower.due(), 0);
});

Deno.test("IceRestartPolicy restarts at once on failed, unless a restart is recent", () => {
  const clock = new FakeClock(0);
  const leader = new IceRestartPolicy(true, clock.now);
  assert.equal(leader.trouble("disconnected"), DISCONNECTED_RESTART_MS);
  clock.advance(500);
  assert.equal(leader.trouble("failed"), 0);
  leader.restarted();
  clock.advance(1_000);
  assert.equal(leader.trouble("failed"), RESTART_BACKOFF_MS - 1_000);
  leader.connected();
  assert.equal(leader.due(), Infinity);
});

Deno.test("iceUfrag() reads the username fragment of a description", () => {
  const sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:Ab+1\r\n";
  assert.equal(iceUfrag(sdp), "Ab+1");
  assert.equal(iceUfrag("v=0\r\n"), "");
  assert.equal(iceUfrag(undefined), "");
});

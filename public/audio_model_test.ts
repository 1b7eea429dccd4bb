import assert from "node:assert/strict";
import { AudioModel, pickDevice } from "./audio_model.ts";
import { DEFAULT_PREFS } from "./prefs.ts";

Deno.test("AudioModel sending is false when muted or when push to talk is not held", () => {
  using audio = new AudioModel({ ...DEFAULT_PREFS });
  assert.equal(audio.sending.value, true);
  audio.toggleMute();
  assert.equal(audio.sending.value, false);
  audio.toggleMute();
  audio.pushToTalk.value = true;
  assert.equal(audio.sending.value, false);
  audio.talking.value = true;
  assert.equal(audio.sending.value, true);
});

Deno.test("AudioModel speakingWhileMuted is true when muted and the mic is loud", () => {
  using audio = new AudioModel({ ...DEFAULT_PREFS });
  audio.localLevel.value = 0.6;
  assert.equal(audio.speakingWhileMuted.value, false);
  audio.muted.value = true;
  assert.equal(audio.speakingWhileMuted.value, true);
  audio.localLevel.value = 0;
  assert.equal(audio.speakingWhileMuted.value, false);
});

Deno.test("pickDevice() falls back to the default when the preferred device is gone", () => {
  const list = [{ deviceId: "a", label: "A" }];
  assert.equal(pickDevice("a", list), "a");
  assert.equal(pickDevice("b", list), "");
});

import assert from "node:assert/strict";
import { micConstraints, openMicrophone, rmsLevel } from "./media.ts";

Deno.test("rmsLevel() is 0 for silence and 1 for a full-scale square wave", () => {
  assert.equal(rmsLevel(new Float32Array(64)), 0);
  assert.equal(rmsLevel(new Float32Array(64).fill(1)), 1);
});

Deno.test("rmsLevel() maps -30 dBFS to the middle of the meter", () => {
  const level = rmsLevel(new Float32Array(64).fill(10 ** (-30 / 20)));
  assert.ok(Math.abs(level - 0.5) < 1e-6);
});

Deno.test("micConstraints() uses plain booleans and no exact device by default", () => {
  assert.deepEqual(
    micConstraints({
      deviceId: "",
      echoCancellation: true,
      noiseSuppression: false,
      autoGainControl: true,
    }),
    { echoCancellation: true, noiseSuppression: false, autoGainControl: true },
  );
});

Deno.test("micConstraints() asks for a chosen device exactly", () => {
  const c = micConstraints({
    deviceId: "abc",
    echoCancellation: false,
    noiseSuppression: false,
    autoGainControl: false,
  });
  assert.deepEqual(c.deviceId, { exact: "abc" });
});

/** Replaces `navigator.mediaDevices.getUserMedia` for one test. */
function withGetUserMedia(
  fake: (c: MediaStreamConstraints) => Promise<MediaStream>,
): Disposable {
  const descriptor = Object.getOwnPropertyDescriptor(navigator, "mediaDevices");
  Object.defineProperty(navigator, "mediaDevices", {
    value: { getUserMedia: fake },
    configurable: true,
  });
  return {
    [Symbol.dispose]() {
      if (descriptor) {
        Object.defineProperty(navigator, "mediaDevices", descriptor);
      } else delete (navigator as { mediaDevices?: unknown }).mediaDevices;
    },
  };
}

const STREAM = {} as MediaStream;
const OPTIONS = {
  deviceId: "gone",
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
};

Deno.test("openMicrophone() falls back to the default microphone when the chosen one is gone", async () => {
  const asked: (string | undefined)[] = [];
  using _ = withGetUserMedia((c) => {
    const audio = c.audio as MediaTrackConstraints;
    const id = (audio.deviceId as { exact?: string } | undefined)?.exact;
    asked.push(id);
    return id
      ? Promise.reject(new DOMException("gone", "OverconstrainedError"))
      : Promise.resolve(STREAM);
  });
  assert.equal(await openMicrophone(OPTIONS), STREAM);
  assert.deepEqual(asked, ["gone", undefined]);
});

Deno.test("openMicrophone() does not retry a refused permission", async () => {
  let calls = 0;
  using _ = withGetUserMedia(() => {
    calls++;
    return Promise.reject(new DOMException("no", "NotAllowedError"));
  });
  await assert.rejects(openMicrophone(OPTIONS), { name: "NotAllowedError" });
  assert.equal(calls, 1);
});

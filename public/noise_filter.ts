/**
 * The opt-in noise filter: RNNoise (Valin 2018, a small recurrent network
 * trained to keep speech and drop everything else) running in an
 * AudioWorklet on the microphone before it is sent. Its files (a 65 KB
 * worklet module and a 150 KB WebAssembly build) are fetched only when the
 * filter is first switched on, so the main bundle does not carry them.
 *
 * The chain: microphone track → MediaStreamSource → RNNoise worklet →
 * MediaStreamDestination, in an AudioContext of its own at 48 kHz (RNNoise's
 * only rate; the browser resamples the microphone into it). The
 * destination's track is what the peers receive; the meter keeps hearing
 * the raw microphone.
 *
 * @module
 */
import { NOISE_FILTER_FILES, RNNOISE_PROCESSOR } from "./noise_files.ts";

/** The filter's state as settings show it. */
export type NoiseFilterState = "off" | "loading" | "on" | "failed";

/** A WebAssembly module that uses one SIMD instruction (wasm-feature-detect). */
// deno-fmt-ignore
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3,
  2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** Whether this browser can run the filter at all. */
export function noiseFilterSupported(): boolean {
  return typeof AudioWorkletNode !== "undefined" &&
    typeof WebAssembly === "object" &&
    typeof AudioContext !== "undefined";
}

/** Which WebAssembly build to fetch: SIMD where the engine validates it. */
export function wasmPath(simd: boolean): string {
  return simd ? NOISE_FILTER_FILES.wasmSimd : NOISE_FILTER_FILES.wasm;
}

let loaded: Promise<{ context: AudioContext; wasm: ArrayBuffer }> | undefined;

/**
 * The filter's AudioContext with the worklet module added, and the
 * WebAssembly bytes; loaded once per page. A failure is not cached, so
 * switching the filter on again retries.
 */
function load(): Promise<{ context: AudioContext; wasm: ArrayBuffer }> {
  loaded ??= (async () => {
    const context = new AudioContext({
      sampleRate: 48_000,
      latencyHint: "interactive",
    });
    try {
      const simd = WebAssembly.validate(SIMD_PROBE);
      const [response] = await Promise.all([
        fetch(wasmPath(simd)),
        context.audioWorklet.addModule(NOISE_FILTER_FILES.worklet),
      ]);
      if (!response.ok) {
        throw new Error(`the noise filter's code: HTTP ${response.status}`);
      }
      return { context, wasm: await response.arrayBuffer() };
    } catch (error) {
      context.close().catch(() => {});
      throw error;
    }
  })();
  loaded.catch(() => loaded = undefined);
  return loaded;
}

/** Resumes the filter's AudioContext after a gesture, if it was loaded. */
export function resumeNoiseFilter(): void {
  loaded?.then(({ context }) => {
    if (context.state === "suspended") context.resume().catch(() => {});
  }, () => {});
}

/** One microphone track through RNNoise. */
export class NoiseFilter {
  /** The filtered track: send this one. */
  readonly track: MediaStreamTrack;
  readonly #source: MediaStreamAudioSourceNode;
  readonly #node: AudioWorkletNode;

  private constructor(
    track: MediaStreamTrack,
    source: MediaStreamAudioSourceNode,
    node: AudioWorkletNode,
  ) {
    this.track = track;
    this.#source = source;
    this.#node = node;
  }

  /** Filters `input` (a microphone track); rejects if RNNoise cannot load. */
  static async create(input: MediaStreamTrack): Promise<NoiseFilter> {
    const { context, wasm } = await load();
    if (context.state === "suspended") await context.resume().catch(() => {});
    const source = context.createMediaStreamSource(new MediaStream([input]));
    // The processor takes its own copy of the bytes (structured clone).
    const node = new AudioWorkletNode(context, RNNOISE_PROCESSOR, {
      channelCount: 1,
      channelCountMode: "explicit",
      outputChannelCount: [1],
      processorOptions: { maxChannels: 1, wasmBinary: wasm },
    });
    const destination = context.createMediaStreamDestination();
    destination.channelCount = 1;
    source.connect(node).connect(destination);
    const [track] = destination.stream.getAudioTracks();
    return new NoiseFilter(track, source, node);
  }

  /** Stops the track and frees RNNoise's state; idempotent. */
  close(): void {
    this.track.stop();
    this.#source.disconnect();
    this.#node.disconnect();
    this.#node.port.postMessage("destroy");
  }
}

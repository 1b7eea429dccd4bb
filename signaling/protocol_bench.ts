/**
 * Micro-benchmarks of the relay's parsing and forwarding: what each relayed
 * message costs in `parseClientMessage`, and `relayedSignal` (append `from`
 * to the raw text) against rebuilding the message with `JSON.stringify`.
 * Frames are the load benchmark's: a 4.2 KB SDP offer and a 260 B candidate.
 *
 * Run: `deno bench signaling/protocol_bench.ts`.
 *
 * @module
 */
import {
  parseClientMessage,
  relayedSignal,
  type SignalMessage,
} from "./protocol.ts";
import { cycleStep, signalFrame } from "../testing/messages.ts";

const TO = "Yq3kA0x2mW7tPZb9cD1e_g";
const FROM = "p7QmZx2A9wLk3Vb8Nc0dEf";
const OFFER = signalFrame(TO, 123_456.789, 1, cycleStep(0).tail);
const CANDIDATE = signalFrame(TO, 123_456.789, 2, cycleStep(2).tail);
const OFFER_MSG = parseClientMessage(OFFER) as SignalMessage;
const CANDIDATE_MSG = parseClientMessage(CANDIDATE) as SignalMessage;

for (const [name, raw] of [["offer", OFFER], ["candidate", CANDIDATE]]) {
  Deno.bench({
    name: `JSON.parse alone (${name}, ${raw.length} B)`,
    group: `parse ${name}`,
    baseline: true,
    fn: () => {
      JSON.parse(raw);
    },
  });
  Deno.bench({
    name: `parseClientMessage (${name})`,
    group: `parse ${name}`,
    fn: () => {
      parseClientMessage(raw);
    },
  });
}

for (
  const [name, raw, msg] of [
    ["offer", OFFER, OFFER_MSG],
    ["candidate", CANDIDATE, CANDIDATE_MSG],
  ] as const
) {
  Deno.bench({
    name: `relayedSignal: raw text + from (${name})`,
    group: `forward ${name}`,
    baseline: true,
    fn: () => {
      relayedSignal(raw, msg, FROM);
    },
  });
  Deno.bench({
    name: `JSON.stringify rebuild (${name})`,
    group: `forward ${name}`,
    fn: () => {
      JSON.stringify({
        type: "signal",
        to: msg.to,
        data: msg.data,
        from: FROM,
      });
    },
  });
}

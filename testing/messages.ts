/**
 * The frames the load generator sends: Parley `signal` messages shaped like a
 * real call setup (an SDP offer and answer of about 4.2 KB each, then ten
 * trickled ICE candidates of about 230 B), with a send timestamp and a
 * sequence number at the front of `data` so the receiver can time and check
 * each one without parsing the SDP.
 *
 * @module
 */

/** Messages in one call setup: offer, answer, then ten candidates. */
export const CYCLE_LENGTH = 12;

/** Target size of an offer or answer frame, in bytes. */
const SDP_FRAME_BYTES = 4200;

const SDP_HEAD = [
  "v=0",
  "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0",
  "a=extmap-allow-mixed",
  "a=msid-semantic: WMS 7d0f3e1c-5b3a-4f7e-9c2d-0a1b2c3d4e5f",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
  "c=IN IP4 0.0.0.0",
  "a=rtcp:9 IN IP4 0.0.0.0",
  "a=ice-ufrag:sXdE",
  "a=ice-pwd:3kQfR8b1mZp0vW2yL5nT7hJc",
  "a=ice-options:trickle",
  "a=fingerprint:sha-256 5B:2C:91:3E:AF:0D:47:88:E1:6A:3B:9C:02:D4:7F:58:11:C6:E9:2A:B0:73:4D:8E:F5:1C:62:A7:39:D0:84:EB",
  "a=setup:actpass",
  "a=mid:0",
  "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
  "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
  "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
  "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
  "a=sendrecv",
  "a=msid:7d0f3e1c-5b3a-4f7e-9c2d-0a1b2c3d4e5f 1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718",
  "a=rtcp-mux",
  "a=rtcp-rsize",
  "a=rtpmap:111 opus/48000/2",
  "a=rtcp-fb:111 transport-cc",
  "a=fmtp:111 minptime=10;useinbandfec=1",
  "a=rtpmap:63 red/48000/2",
  "a=fmtp:63 111/111",
  "a=rtpmap:9 G722/8000",
  "a=rtpmap:0 PCMU/8000",
  "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:13 CN/8000",
  "a=rtpmap:110 telephone-event/48000",
  "a=rtpmap:126 telephone-event/8000",
];

/** SDP text whose frame comes to about {@linkcode SDP_FRAME_BYTES}. */
function fakeSdp(kind: "offer" | "answer"): string {
  const lines = [...SDP_HEAD];
  if (kind === "answer") lines[14] = "a=setup:active";
  let n = 0;
  // SSRC attribute lines pad it out, as simulcast and RTX lines do in life.
  const frame = () =>
    frameText("0123456789012345678901", 1_000_000.123, 1_000_000, {
      description: { type: kind, sdp: lines.join("\r\n") + "\r\n" },
    });
  while (frame().length < SDP_FRAME_BYTES) {
    lines.push(
      `a=ssrc:${3_000_000_000 + n++} cname:Yq3kA0x2mW7tPZb9cD1e${n % 10}`,
    );
  }
  return lines.join("\r\n") + "\r\n";
}

function frameText(
  to: string,
  t: number,
  s: number,
  payload: Record<string, unknown>,
): string {
  return `{"type":"signal","to":"${to}","data":{"t":${t.toFixed(3)},"s":${s},` +
    JSON.stringify(payload).slice(1) + "}";
}

const OFFER = JSON.stringify({
  description: { type: "offer", sdp: fakeSdp("offer") },
}).slice(1);
const ANSWER = JSON.stringify({
  description: { type: "answer", sdp: fakeSdp("answer") },
}).slice(1);
const CANDIDATE = JSON.stringify({
  candidate: {
    candidate:
      "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.2 rport 46154",
    sdpMid: "0",
    sdpMLineIndex: 0,
    usernameFragment: "sXdE",
  },
}).slice(1);

/** What step `step` of a call setup sends, and whether the first peer sends it. */
export function cycleStep(step: number): { fromFirst: boolean; tail: string } {
  const i = step % CYCLE_LENGTH;
  if (i === 0) return { fromFirst: true, tail: OFFER };
  if (i === 1) return { fromFirst: false, tail: ANSWER };
  return { fromFirst: i % 2 === 0, tail: CANDIDATE };
}

/**
 * A signal frame to `to`, sent at `t` (ms, `performance.now()` of the
 * sending process) with the sender's sequence number `s`.
 */
export function signalFrame(
  to: string,
  t: number,
  s: number,
  tail: string,
): string {
  return `{"type":"signal","to":"${to}","data":{"t":${t.toFixed(3)},"s":${s},` +
    tail + "}";
}

/** Average frame size of one call setup, in bytes (as sent, before `from`). */
export function averageFrameBytes(): number {
  let sum = 0;
  for (let i = 0; i < CYCLE_LENGTH; i++) {
    sum += signalFrame(
      "0123456789012345678901",
      1_000_000.123,
      1000,
      cycleStep(i).tail,
    ).length;
  }
  return sum / CYCLE_LENGTH;
}

/** What the receiver reads from a relayed signal. */
export interface RelayedFrame {
  to: string;
  from: string;
  t: number;
  s: number;
}

const SIGNAL_PREFIX = '{"type":"signal","to":"';
const DATA_PREFIX = '","data":{"t":';
const FROM_KEY = ',"from":"';

/**
 * Reads a relayed signal without parsing its SDP: the relay forwards the
 * sender's text and appends `from`, so the fields sit where the sender put
 * them. Returns undefined for any other frame.
 */
export function readRelayed(text: string): RelayedFrame | undefined {
  if (!text.startsWith(SIGNAL_PREFIX)) return undefined;
  const toEnd = text.indexOf(DATA_PREFIX, SIGNAL_PREFIX.length);
  const fromAt = text.lastIndexOf(FROM_KEY);
  if (toEnd < 0 || fromAt < 0 || !text.endsWith('"}')) return undefined;
  const tAt = toEnd + DATA_PREFIX.length;
  const sKey = text.indexOf(',"s":', tAt);
  const sEnd = text.indexOf(",", sKey + 5);
  return {
    to: text.slice(SIGNAL_PREFIX.length, toEnd),
    from: text.slice(fromAt + FROM_KEY.length, -2),
    t: Number(text.slice(tAt, sKey)),
    s: Number(text.slice(sKey + 5, sEnd)),
  };
}

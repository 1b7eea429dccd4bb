import { launchChromium } from "../../testing/chromium.ts";
import { makeSpeech } from "../calls/signals.ts";
const tmp = await Deno.makeTempDir();
const speech = await makeSpeech(tmp);
const wav = tmp + "/quiet.wav";
// 11.5 s of speech then 20 s of a quiet room (white noise at -60 dBFS).
await new Deno.Command("sox", { args: ["-n", "-r", "48000", "-c", "1", "-b", "16", tmp + "/room.wav", "synth", "20", "whitenoise", "gain", "-60"] }).output();
await new Deno.Command("sox", { args: [speech, tmp + "/room.wav", wav] }).output();
await using b = await launchChromium("x", wav, tmp);
const srv = Deno.serve({ port: 0, onListen() {} }, () => new Response("<html></html>", { headers: { "content-type": "text/html" } }));
await b.page.goto(`http://127.0.0.1:${srv.addr.port}/`);
for (const dtx of [false, true, false, true]) {
  const r = await b.page.evaluate(async (dtx) => {
    const s = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    const a = new RTCPeerConnection(), c = new RTCPeerConnection();
    a.onicecandidate = (e) => e.candidate && c.addIceCandidate(e.candidate);
    c.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    a.addTransceiver(s.getAudioTracks()[0], { direction: "sendonly" });
    await a.setLocalDescription();
    await c.setRemoteDescription(a.localDescription!);
    await c.setLocalDescription();
    let sdp = c.localDescription!.sdp;
    if (dtx) sdp = sdp.replace("useinbandfec=1", "useinbandfec=1;usedtx=1");
    await a.setRemoteDescription({ type: "answer", sdp });
    await new Promise((r) => setTimeout(r, 3000));
    const get = async () => {
      const st = [...(await a.getStats()).values()];
      const inb = [...(await c.getStats()).values()].find((x) => x.type === "inbound-rtp");
      return { out: st.find((x) => x.type === "outbound-rtp"), inb };
    };
    const x = await get();
    await new Promise((r) => setTimeout(r, 31500));
    const y = await get();
    a.close(); c.close(); s.getTracks().forEach((t) => t.stop());
    const d = (k: string, o: "out" | "inb") => y[o][k] - x[o][k];
    return { dtx, kbps: (d("bytesSent", "out") * 8 / 31.5).toFixed(0) + " bit/s", pps: (d("packetsSent", "out") / 31.5).toFixed(1),
      concealed: (100 * d("concealedSamples", "inb") / d("totalSamplesReceived", "inb")).toFixed(2),
      silentConcealed: (100 * d("silentConcealedSamples", "inb") / d("totalSamplesReceived", "inb")).toFixed(2) };
  }, dtx);
  console.log(JSON.stringify(r));
}
await srv.shutdown();

// The viewer page: watch-only. Parley checks the viewer token and brokers a subscription to the
// session's Janus VideoRoom (WebRTC, sub-second); where there is none, or WebRTC fails, the page
// plays the HLS stream that nginx-rtmp cuts from the RTMP push (a few seconds behind).
// window.parleyWatch exposes what the page saw, for tests and debugging.

const $ = (id) => document.getElementById(id);
const watch = (window.parleyWatch = { via: null, connected: false, error: null });
const params = new URLSearchParams(location.search);
const token = params.get("token");
const preferHLS = params.get("via") === "hls";  // e.g. behind a firewall that blocks WebRTC

function say(text) {
  $("status").textContent = text;
}

async function viaWebRTC(offer) {
  const pc = new RTCPeerConnection();
  // Set before the answer is sent: ICE can connect before its HTTP reply comes back.
  watch.via = "webrtc";
  watch.pc = pc;
  const remote = new MediaStream();
  pc.ontrack = (event) => {
    remote.addTrack(event.track);
    $("avatar").srcObject = remote;
  };
  pc.onconnectionstatechange = () => {
    watch.connected = pc.connectionState === "connected";
    say(`WebRTC: ${pc.connectionState}`);
  };
  await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    else pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const response = await fetch("/api/watch/answer", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, viewer: offer.viewer, sdp: pc.localDescription.sdp }),
  });
  if (!response.ok) throw new Error(await response.text());
  window.addEventListener("pagehide", () => pc.close());
}

function viaHLS(url) {
  const video = $("avatar");
  watch.via = "hls";
  if (window.Hls?.isSupported()) {
    const hls = new window.Hls({ lowLatencyMode: true, liveSyncDurationCount: 2 });
    hls.on(window.Hls.Events.ERROR, (_, data) => data.fatal && say(`HLS: ${data.details}`));
    hls.loadSource(url);
    hls.attachMedia(video);
  } else {
    video.src = url;  // Safari plays HLS itself
  }
  video.addEventListener("playing", () => {
    watch.connected = true;
    say("HLS: playing");
  });
}

async function start() {
  if (!token) throw new Error("this link has no viewer token; ask the host for the viewer link");
  const response = await fetch("/api/watch", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, via: preferHLS ? "hls" : "webrtc" }),
  });
  if (!response.ok) throw new Error(await response.text());
  const offer = await response.json();
  if (offer.webrtc) {
    try {
      await viaWebRTC(offer.webrtc);
      return;
    } catch (err) {
      if (!offer.hls) throw err;
      say(`WebRTC failed (${err.message}); using HLS`);
    }
  }
  viaHLS(offer.hls);
}

start().catch((err) => {
  watch.error = err.message;
  say(`error: ${err.message}`);
});

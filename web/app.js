// The conversation page: microphone (echo cancellation on) and typed text in, the avatar's audio
// and video out over WebRTC, captions and per-turn latency from the data channel.
// window.parleyState exposes what the page saw, for tests and debugging.
const $ = (id) => document.getElementById(id);
const state = (window.parleyState = { connected: false, captions: [], turns: [], errors: [], visemeChunks: 0 });
let channel = null;
let avatarLine = null;

function addCaption(who, text, final) {
  if (who === "avatar" && !final) {
    if (!avatarLine) {
      avatarLine = document.createElement("div");
      avatarLine.className = "avatar";
      $("captions").append(avatarLine);
    }
    avatarLine.textContent += text;
  } else {
    const line = document.createElement("div");
    line.className = `${who}${final ? "" : " partial"}`;
    line.textContent = `${who === "caller" ? "You" : "Avatar"}: ${text}`;
    $("captions").querySelectorAll(".caller.partial").forEach((el) => el.remove());
    $("captions").append(line);
  }
  $("captions").scrollTop = $("captions").scrollHeight;
  state.captions.push({ who, text, final });
}

function onMessage(message) {
  const data = JSON.parse(message.data);
  if (data.type === "caption") addCaption(data.who, data.text, data.final);
  else if (data.type === "turn") {
    avatarLine = null;
    state.turns.push(data);
    const t = data.timings;
    const total = t.end_of_speech_to_first_audio_ms ?? t.first_audio_ms;
    $("latency").textContent = `last turn: first audio ${Math.round(total)} ms after ${
      t.end_of_speech_to_first_audio_ms !== undefined ? "you stopped speaking" : "you sent the text"}`;
  } else if (data.type === "visemes") state.visemeChunks += 1;
  else if (data.type === "barge_in") avatarLine = null;
  else if (data.type === "error") {
    state.errors.push(data.error);
    $("status").textContent = data.error;
  }
}

async function start() {
  $("start").disabled = true;
  $("status").textContent = "connecting…";
  const session = await (await fetch("/api/sessions", { method: "POST" })).json();
  $("title").textContent = `${session.persona.name}, ${session.persona.role}`;
  state.viewerUrl = session.viewer_url;
  $("viewer").href = session.viewer_url;
  $("viewer").hidden = false;
  const mic = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const pc = new RTCPeerConnection();
  for (const track of mic.getAudioTracks()) pc.addTrack(track, mic);
  pc.addTransceiver("video", { direction: "recvonly" });
  channel = pc.createDataChannel("parley");
  channel.onmessage = onMessage;
  channel.onopen = () => addCaption("avatar", session.persona.greeting, true);
  const remote = new MediaStream();
  pc.ontrack = (event) => {
    remote.addTrack(event.track);
    $("avatar").srcObject = remote;
  };
  pc.onconnectionstatechange = () => {
    state.connected = pc.connectionState === "connected";
    $("status").textContent = pc.connectionState;
  };
  const modeInputs = document.querySelectorAll("input[name=mode]");
  modeInputs.forEach((input) => (input.onchange = () => {
    const voice = document.querySelector("input[name=mode]:checked").value === "voice";
    mic.getAudioTracks().forEach((t) => (t.enabled = voice));  // text mode: the microphone is muted
  }));
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    else pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
  const response = await fetch("/api/offer", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: session.caller_token, sdp: pc.localDescription.sdp, type: "offer" }),
  });
  if (!response.ok) {
    $("status").textContent = `error: ${await response.text()}`;
    return;
  }
  await pc.setRemoteDescription(await response.json());
  state.pc = pc;
  // Leaving the page ends the call at once, rather than when the server's watchdog notices.
  window.addEventListener("pagehide", () => pc.close());
}

$("start").onclick = () => start().catch((err) => { $("status").textContent = `error: ${err.message}`; });
$("typed").onsubmit = (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (text && channel?.readyState === "open") {
    channel.send(JSON.stringify({ type: "text", text }));
    $("text").value = "";
  }
};

// The conversation page: microphone (echo cancellation on) and typed text in, the avatar's audio
// and video out over WebRTC, captions and per-turn latency from the data channel.
// The face is the server's video (2D), or the 3D head drawn here from the viseme events, each
// started when its audio starts playing: by choice (the 2D/3D toggle) or because the server's
// degradation ladder stopped sending video (rung browser3d); on rung "audio" the face pauses.
// window.parleyState exposes what the page saw, for tests and debugging.
import { loadHead, timelineFrom, weightsAt } from "./head3d.js";

const $ = (id) => document.getElementById(id);
const state = (window.parleyState = {
  connected: false, captions: [], turns: [], errors: [], visemeChunks: 0, rung: null, view: "2d",
  frames3d: 0, mouth3d: [], busy: [], camera: null,
  recorded: null,  // the caller's answer to "may this call be recorded?", where the server asks
  // [page time ms, type, the server's audio-clock at/end] of recent events: where a turn's time goes.
  events: [],
});
let channel = null;
let avatarLine = null;
let session = null;

// --- the 3D face ----------------------------------------------------------------------------------
let head = null;
let loadingHead = null;
const chunks = [];  // { timeline, start }: viseme tracks on the page clock (performance.now(), ms)
let audioDelayMs = 80;  // the browser's audio jitter buffer, measured below; the mouth waits as long

function drawing3d() {
  return state.rung !== "audio" && (state.view === "3d" || state.rung === "browser3d");
}

let animating = false;
function animate3d() {
  if (!head || !drawing3d()) {
    animating = false;
    return;
  }
  const now = performance.now();
  while (chunks.length > 1 && chunks[1].start <= now) chunks.shift();  // the next chunk has begun
  const chunk = chunks[0];
  const t = chunk ? (now - chunk.start) / 1000 : -1;
  const speaking = chunk && t >= 0 && t < chunk.timeline.frames / chunk.timeline.fps;
  const weights = speaking ? weightsAt(chunk.timeline, t) : {};
  head.pose(weights);
  state.frames3d += 1;
  state.mouth3d.push(weights.viseme_aa ?? 0);
  if (state.mouth3d.length > 600) state.mouth3d.shift();
  requestAnimationFrame(animate3d);
}

async function showFace() {
  const draw = drawing3d();
  $("avatar").hidden = draw || state.rung === "audio";  // still plays the audio when hidden
  $("head").hidden = !draw;
  $("audio-only").hidden = state.rung !== "audio";
  if (!draw || !session) return;
  loadingHead ??= loadHead($("head"), session.avatar3d, { idle: true }).then((h) => (head = h)).catch((err) => {
    state.errors.push(err.message);
    $("status").textContent = err.message;
  });
  await loadingHead;
  if (!animating) {
    animating = true;
    requestAnimationFrame(animate3d);
  }
}

async function measureAudioDelay() {
  if (!state.pc) return;
  (await state.pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio" && s.jitterBufferEmittedCount > 0) {
      audioDelayMs = (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount;
    }
  });
}

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
  state.events.push([performance.now(), data.type, data.at ?? null, data.end ?? null]);
  if (state.events.length > 1000) state.events.splice(0, 500);
  // The server's events, each tagged with its type (parley/events.py defines them all).
  head?.observe(data);  // the 3D head listens, nods and greets as the call goes
  if (data.type === "text_delta") addCaption("avatar", data.text, false);
  else if (data.type === "partial_transcript" || data.type === "pause_transcript") addCaption("caller", data.text, false);
  else if (data.type === "utterance" || data.type === "typed") addCaption("caller", data.text, true);
  else if (data.type === "turn_done") {
    avatarLine = null;
    state.turns.push(data);
    const t = data.timings;
    const total = t.end_of_speech_to_first_audio_ms ?? t.first_audio_ms;
    $("latency").textContent = `last turn: first audio ${Math.round(total)} ms after ${
      t.end_of_speech_to_first_audio_ms !== undefined ? "you stopped speaking" : "you sent the text"}`;
  } else if (data.type === "chunk_playing") {
    state.visemeChunks += 1;
    // Sent as the chunk's first audio leaves the server: it plays once through the jitter buffer.
    const now = performance.now();
    while (chunks.length && chunks[0].start + (1000 * chunks[0].timeline.frames) / chunks[0].timeline.fps < now) {
      chunks.shift();  // over: keep only what is playing or queued
    }
    chunks.push({ timeline: timelineFrom(data, "a visemes event"), start: now + audioDelayMs });
  } else if (data.type === "face_changed") {
    state.rung = data.rung;
    $("rung").textContent = `face: ${data.rung}`;
    $("rung").title = data.reason;
    showFace();
  }
  else if (data.type === "barge_in") {
    avatarLine = null;
    chunks.length = 0;  // the server dropped the rest of the reply
  }
  else if (data.type === "problem" || data.type === "turn_failed") {
    const error = data.type === "turn_failed" ? `the reply failed: ${data.error}` : data.error;
    state.errors.push(error);
    $("status").textContent = error;
  }
}

// The server admits only the calls it can serve well: a full or shutting-down one answers 503, and
// one asked too often from this address 429, each with Retry-After. The page says so kindly, counts
// down and tries again by itself.
async function admitted(response) {
  if (![429, 503].includes(response.status) || !response.headers.has("Retry-After")) return true;
  const wait = Number(response.headers.get("Retry-After")) || 30;
  const message = await response.text();
  state.busy.push({ wait, message });
  $("start").disabled = true;
  for (let left = wait; left > 0; left -= 1) {
    $("status").textContent = `${message} (trying again in ${left} s)`;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return false;
}

// Where the server records calls it asks first, once: either answer starts the call, and the server
// records it only with a yes (sent with the offer).
function askConsent(recording) {
  $("consent-text").textContent = `If you agree, this call is recorded: your voice, ${session.persona.name}'s ` +
    `voice and face, and what you both say, kept for ${recording.keep_days} days for the people who run ` +
    "this service. If you don't, the call is the same and none of it is kept.";
  $("consent").hidden = false;
  $("status").textContent = "waiting for your answer";
  return new Promise((resolve) => {
    const answer = (yes) => {
      $("consent").hidden = true;
      $("status").textContent = "connecting…";
      resolve(yes);
    };
    $("consent-yes").onclick = () => answer(true);
    $("consent-no").onclick = () => answer(false);
  });
}

async function start() {
  $("start").disabled = true;
  $("status").textContent = "connecting…";
  const created = await fetch("/api/sessions", { method: "POST" });
  if (!(await admitted(created))) return start();
  if (!created.ok) throw new Error(await created.text());
  session = await created.json();
  $("title").textContent = `${session.persona.name}, ${session.persona.role}`;
  state.viewerUrl = session.viewer_url;
  $("viewer").href = session.viewer_url;
  $("viewer").hidden = false;
  if (session.recording && state.recorded === null) state.recorded = await askConsent(session.recording);
  const record = Boolean(session.recording && state.recorded);
  $("recorded").hidden = !record;
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
    body: JSON.stringify({ token: session.caller_token, sdp: pc.localDescription.sdp, type: "offer", record }),
  });
  if (!(await admitted(response))) {
    pc.close();
    mic.getTracks().forEach((t) => t.stop());
    return start();
  }
  if (!response.ok) {
    $("status").textContent = `error: ${await response.text()}`;
    return;
  }
  await pc.setRemoteDescription(await response.json());
  state.pc = pc;
  setInterval(measureAudioDelay, 1000);
  // Leaving the page ends the call at once, rather than when the server's watchdog notices.
  window.addEventListener("pagehide", () => pc.close());
}

document.querySelectorAll("input[name=view]").forEach((input) => (input.onchange = () => {
  state.view = document.querySelector("input[name=view]:checked").value;
  // The server stops rendering video the caller does not watch.
  if (channel?.readyState === "open") channel.send(JSON.stringify({ type: "view", view: state.view }));
  showFace();
}));
// The caller's own camera beside the avatar, as in a video call: shown on this page only, never sent
// (the call carries the microphone alone), and only while the box is ticked; voice and text go on
// without it.
let camera = null;
async function showCamera(on) {
  const video = $("self");
  camera?.getTracks().forEach((t) => t.stop());
  camera = null;
  video.srcObject = null;
  video.hidden = true;
  state.camera = null;
  if (!on) return;
  try {
    camera = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 } });
  } catch (err) {
    $("camera").checked = false;
    state.camera = `unavailable: ${err.name}`;
    $("status").textContent = `camera unavailable (${err.name}); voice and text go on without it`;
    return;
  }
  video.srcObject = camera;
  video.hidden = false;
  state.camera = "on";
}
$("camera").onchange = () => showCamera($("camera").checked);

$("start").onclick = () => start().catch((err) => { $("status").textContent = `error: ${err.message}`; });
$("typed").onsubmit = (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (text && channel?.readyState === "open") {
    channel.send(JSON.stringify({ type: "text", text }));
    $("text").value = "";
  }
};

// The 3D avatar page: a GLB head (head3d.js) driven by a viseme timeline (visemes.json from
// `parley say`) on the audio element's clock.
//
// Query parameters: glb (model URL), visemes (visemes.json URL), audio (speech.wav URL), idle=1 (the
// head lives between words: blinks, saccades, sway, nods, the greeting's smile; off by default, so a
// pose is the same picture every time).
// window.parley exposes the state to tests: { ready, error, targets, pose(weights), turn(degrees), play(),
// samples: the weights applied at each animation frame of the last play() (with idle=1, of every frame:
// { t, weights, turn }), observe(event): a call's event (speech_started, speech_ended), influence(name) }.
import { loadHead, timelineFrom, weightsAt } from "./head3d.js";

const params = new URLSearchParams(location.search);
const statusEl = document.getElementById("status");
const parley = (window.parley = { ready: false, error: null, targets: [] });

function fail(message) {
  parley.error = message;
  statusEl.textContent = message;
  statusEl.className = "error";
}

async function loadTimeline(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return timelineFrom(await response.json(), url);
}

parley.play = async () => {
  const audio = new Audio(params.get("audio"));
  const timeline = parley.timeline;
  await audio.play();
  parley.samples = [];
  const tick = () => {
    const weights = weightsAt(timeline, audio.currentTime);
    parley.samples.push({ t: audio.currentTime, weights });
    parley.pose(weights);
    if (!audio.ended) requestAnimationFrame(tick);
    else parley.pose({});
  };
  tick();
};

// Between plays, the idle head is drawn every animation frame, holding the last pose's weights.
function live(head) {
  let held = {};
  parley.pose = (weights) => { held = weights; head.pose(weights); };
  parley.samples = [];
  const tick = () => {
    head.pose(held);
    const { weights, turn } = head.applied();
    parley.samples.push({ t: performance.now() / 1000, weights, turn });
    if (parley.samples.length > 900) parley.samples.shift();
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

async function main() {
  let head;
  try {
    head = await loadHead(document.getElementById("stage"), params.get("glb") || "../avatars/head3d/head.glb",
                          { idle: params.get("idle") === "1" });
  } catch (err) {
    return fail(err.message);
  }
  parley.targets = head.targets;
  parley.pose = head.pose;
  parley.turn = head.turn;
  parley.observe = head.observe;
  parley.influence = head.influence;
  if (params.get("idle") === "1") live(head);
  if (params.get("visemes")) {
    if (!params.get("audio")) return fail("a visemes timeline needs its audio: add &audio=…/speech.wav");
    try {
      parley.timeline = await loadTimeline(params.get("visemes"));
    } catch (err) {
      return fail(err.message);
    }
    const button = document.getElementById("play");
    button.hidden = false;
    button.onclick = () => parley.play().catch((err) => fail(`cannot play the audio: ${err.message || err}`));
  }
  parley.ready = true;
  statusEl.textContent = `ready: ${parley.targets.length} morph targets`;
}

main();

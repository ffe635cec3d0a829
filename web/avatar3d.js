// The 3D avatar page: a GLB head (head3d.js) driven by a viseme timeline (visemes.json from
// `parley say`) on the audio element's clock.
//
// Query parameters: glb (model URL), visemes (visemes.json URL), audio (speech.wav URL).
// window.parley exposes the state to tests: { ready, error, targets, pose(weights), turn(degrees), play(),
// samples: the weights applied at each animation frame of the last play() }.
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

async function main() {
  let head;
  try {
    head = await loadHead(document.getElementById("stage"), params.get("glb") || "../avatars/head3d/head.glb");
  } catch (err) {
    return fail(err.message);
  }
  parley.targets = head.targets;
  parley.pose = head.pose;
  parley.turn = head.turn;
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

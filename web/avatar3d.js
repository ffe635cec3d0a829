// The 3D browser avatar: a GLB with Ready Player Me style morph targets (or a VRM model, through its
// vowel expressions), driven by a viseme timeline (visemes.json from `parley say`) on the audio
// element's clock.
//
// Query parameters: glb (model URL), visemes (visemes.json URL), audio (speech.wav URL).
// window.parley exposes the state to tests: { ready, error, targets, pose(weights), play(),
// samples: the weights applied at each animation frame of the last play() }.
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";

const VISEMES = ["sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U"];
const REQUIRED = VISEMES.map((v) => `viseme_${v}`);
// A timeline has both viseme curves and ARKit mouth curves made from them; applying both would open
// the mouth twice, so only the visemes drive the mouth (VRM models map them to their vowels).
const SKIP_WITH_VISEMES = new Set(["jawOpen", "mouthFunnel", "mouthPucker", "mouthSmile", "mouthClose"]);

const params = new URLSearchParams(location.search);
const statusEl = document.getElementById("status");
const parley = (window.parley = { ready: false, error: null, targets: [] });

function fail(message) {
  parley.error = message;
  statusEl.textContent = message;
  statusEl.className = "error";
}

const canvas = document.getElementById("stage");
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setSize(512, 512, false);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x20242b);
const camera = new THREE.PerspectiveCamera(30, 1, 0.01, 10);
scene.add(new THREE.HemisphereLight(0xffffff, 0x404050, 2.2));
const key = new THREE.DirectionalLight(0xffffff, 1.6);
key.position.set(0.3, 0.4, 1);
scene.add(key);

// Every mesh's morph dictionary: a name may live on several meshes (eyes, teeth, head).
let morphMeshes = [];
// For VRM models: expression name → [{ mesh, index, weight }] (null for RPM-style models).
let vrm = null;
const VRM_VOWELS = ["aa", "ih", "ou", "ee", "oh"];
// How much each viseme opens each vowel shape (consonants: a little of the nearest vowel).
const VISEME_TO_VOWELS = {
  aa: { aa: 1 }, E: { ee: 1 }, I: { ih: 1 }, O: { oh: 1 }, U: { ou: 1 },
  FF: { ih: 0.2 }, TH: { ee: 0.2 }, DD: { ee: 0.25 }, kk: { aa: 0.2 }, CH: { ou: 0.35 },
  SS: { ih: 0.3 }, nn: { ee: 0.2 }, RR: { oh: 0.3 }, PP: {}, sil: {},
};
const VRM0_NAMES = { a: "aa", i: "ih", u: "ou", e: "ee", o: "oh", blink: "blink", blink_l: "blinkLeft", blink_r: "blinkRight" };

function vrmWeights(weights) {
  const out = { blink: 0, blinkLeft: weights.eyeBlinkLeft ?? 0, blinkRight: weights.eyeBlinkRight ?? 0 };
  for (const v of VRM_VOWELS) out[v] = 0;
  for (const [viseme, vowels] of Object.entries(VISEME_TO_VOWELS)) {
    const w = weights[`viseme_${viseme}`] ?? 0;
    for (const [vowel, amount] of Object.entries(vowels)) out[vowel] += w * amount;
  }
  if (!vrm.blinkLeft) out.blink = Math.max(out.blinkLeft, out.blinkRight);
  return out;
}

function setWeights(weights) {
  for (const mesh of morphMeshes) {
    const dict = mesh.morphTargetDictionary;
    for (const [name, index] of Object.entries(dict)) {
      mesh.morphTargetInfluences[index] = vrm ? 0 : weights[name] ?? 0;
    }
  }
  if (!vrm) return;
  for (const [expression, w] of Object.entries(vrmWeights(weights))) {
    for (const bind of vrm[expression] ?? []) {
      const influences = bind.mesh.morphTargetInfluences;
      influences[bind.index] = Math.min(1, influences[bind.index] + w * bind.weight);
    }
  }
}

async function meshesOf(parser, kind, index) {
  const object = await parser.getDependency(kind, index);
  const found = [];
  object.traverse((o) => { if (o.isMesh && o.morphTargetInfluences) found.push(o); });
  return found;
}

// VRM 0.x (extensions.VRM) and 1.0 (extensions.VRMC_vrm) bind expressions to morph targets.
async function vrmBindings(parser) {
  const ext = parser.json.extensions ?? {};
  const bindings = {};
  const add = async (name, kind, index, morph, weight) => {
    for (const mesh of await meshesOf(parser, kind, index)) {
      (bindings[name] ??= []).push({ mesh, index: morph, weight });
    }
  };
  if (ext.VRM) {
    for (const group of ext.VRM.blendShapeMaster?.blendShapeGroups ?? []) {
      const name = VRM0_NAMES[group.presetName];
      for (const b of name ? group.binds ?? [] : []) await add(name, "mesh", b.mesh, b.index, (b.weight ?? 100) / 100);
    }
    return bindings;
  }
  if (ext.VRMC_vrm) {
    for (const [name, e] of Object.entries(ext.VRMC_vrm.expressions?.preset ?? {})) {
      for (const b of e.morphTargetBinds ?? []) await add(name, "node", b.node, b.index, b.weight ?? 1);
    }
    return bindings;
  }
  return null;
}

parley.pose = (weights) => {
  setWeights(weights);
  renderer.render(scene, camera);
};

// Blinks every 2.5–5.5 s, 160 ms long, so the face is never frozen.
let nextBlink = 3;
function blinkAt(t) {
  if (t > nextBlink + 0.16) nextBlink = t + 2.5 + Math.random() * 3;
  const d = Math.abs(t - (nextBlink + 0.08));
  return Math.max(0, 1 - d / 0.08);
}

function weightsAt(timeline, t) {
  // The nearest curve frame, as the 2D renderer samples them (visemes.lead_ms is tuned for that).
  const i = Math.max(0, Math.min(Math.round(t * timeline.fps), timeline.frames - 1));
  const out = {};
  for (const [name, values] of Object.entries(timeline.curves)) {
    if (SKIP_WITH_VISEMES.has(name)) continue;
    out[name] = values[i];
  }
  const blink = blinkAt(t);
  out.eyeBlinkLeft = out.eyeBlinkRight = blink;
  return out;
}

async function loadTimeline(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  const data = await response.json();
  const frames = data.curves?.viseme_sil?.length;
  if (!data.fps || !frames) throw new Error(`${url} is not a Parley visemes.json (no fps or curves)`);
  return { fps: data.fps, frames, curves: data.curves };
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
  const url = params.get("glb") || "../avatars/head3d/head.glb";
  let gltf;
  try {
    gltf = await new GLTFLoader().loadAsync(url);
  } catch (err) {
    return fail(`cannot load the model ${url}: ${err.message || err}`);
  }
  gltf.scene.traverse((obj) => {
    if (obj.isMesh && obj.morphTargetDictionary) morphMeshes.push(obj);
  });
  vrm = await vrmBindings(gltf.parser);
  if (vrm) {
    parley.targets = Object.keys(vrm).sort();
    const missing = VRM_VOWELS.filter((n) => !vrm[n]);
    if (missing.length) return fail(`This VRM model cannot speak: it has no expressions ${missing.join(", ")}.`);
  } else {
    const names = new Set(morphMeshes.flatMap((m) => Object.keys(m.morphTargetDictionary)));
    parley.targets = [...names].sort();
    const missing = REQUIRED.filter((n) => !names.has(n));
    if (missing.length) {
      return fail(`This model cannot speak: it has no morph targets ${missing.join(", ")}. ` +
                  "A 3D avatar needs the 15 Ready Player Me / Oculus visemes as morph targets, or VRM expressions.");
    }
  }
  scene.add(gltf.scene);
  // Frame the head, whatever the model's size and origin.
  const box = new THREE.Box3().setFromObject(gltf.scene);
  const size = box.getSize(new THREE.Vector3());
  const centre = box.getCenter(new THREE.Vector3());
  camera.position.set(centre.x, centre.y, centre.z + size.y * 2.2);
  camera.lookAt(centre);
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
  parley.pose({});
  parley.ready = true;
  statusEl.textContent = `ready: ${parley.targets.length} morph targets`;
}

main();

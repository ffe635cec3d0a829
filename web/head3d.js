// A talking 3D head for any page: a GLB with Ready Player Me / Oculus viseme morph targets (or a VRM
// model, through its vowel expressions), posed from Parley viseme curves. Used by the 3D avatar page
// (avatar3d.js) and by the conversation page's 3D view (app.js).
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { idleLife, moodAfter } from "./idle3d.js";

const VISEMES = ["sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U"];
const REQUIRED = VISEMES.map((v) => `viseme_${v}`);
// A timeline has both viseme curves and ARKit mouth curves made from them; applying both would open
// the mouth twice, so only the visemes drive the mouth (VRM models map them to their vowels).
const SKIP_WITH_VISEMES = new Set(["jawOpen", "mouthFunnel", "mouthPucker", "mouthSmile", "mouthClose"]);

const BACKGROUND = [0x20, 0x24, 0x2b];  // the page's own background, sRGB
const VRM_VOWELS = ["aa", "ih", "ou", "ee", "oh"];
// How much each viseme opens each vowel shape (consonants: a little of the nearest vowel).
const VISEME_TO_VOWELS = {
  aa: { aa: 1 }, E: { ee: 1 }, I: { ih: 1 }, O: { oh: 1 }, U: { ou: 1 },
  FF: { ih: 0.2 }, TH: { ee: 0.2 }, DD: { ee: 0.25 }, kk: { aa: 0.2 }, CH: { ou: 0.35 },
  SS: { ih: 0.3 }, nn: { ee: 0.2 }, RR: { oh: 0.3 }, PP: {}, sil: {},
};
const VRM0_NAMES = { a: "aa", i: "ih", u: "ou", e: "ee", o: "oh", blink: "blink", blink_l: "blinkLeft", blink_r: "blinkRight" };

function vrmWeights(vrm, weights) {
  const out = { blink: 0, blinkLeft: weights.eyeBlinkLeft ?? 0, blinkRight: weights.eyeBlinkRight ?? 0 };
  for (const v of VRM_VOWELS) out[v] = 0;
  for (const [viseme, vowels] of Object.entries(VISEME_TO_VOWELS)) {
    const w = weights[`viseme_${viseme}`] ?? 0;
    for (const [vowel, amount] of Object.entries(vowels)) out[vowel] += w * amount;
  }
  if (!vrm.blinkLeft) out.blink = Math.max(out.blinkLeft, out.blinkRight);
  return out;
}

function setWeights({ morphMeshes, vrm }, weights) {
  for (const mesh of morphMeshes) {
    const dict = mesh.morphTargetDictionary;
    for (const [name, index] of Object.entries(dict)) {
      mesh.morphTargetInfluences[index] = vrm ? 0 : weights[name] ?? 0;
    }
  }
  if (!vrm) return;
  for (const [expression, w] of Object.entries(vrmWeights(vrm, weights))) {
    for (const bind of vrm[expression] ?? []) {
      const influences = bind.mesh.morphTargetInfluences;
      influences[bind.index] = Math.min(1, influences[bind.index] + w * bind.weight);
    }
  }
}

// Morph targets blended here, on the CPU, instead of in three.js's vertex shader. The shader visits
// every target of every vertex each frame, a cost a software renderer (headless Chromium, a laptop
// without a GPU) pays in full, while a pose moves a few targets; blending those few here is cheap on
// any machine. The mesh keeps its morphTargetDictionary and morphTargetInfluences, so poses, VRM
// bindings and tests read and write weights as before.
// Quantised or interleaved attributes (KHR_mesh_quantization, some exporters) stay with the shader,
// which reads them as stored.
const plainFloats = (a) => a && !a.isInterleavedBufferAttribute && !a.normalized && a.array instanceof Float32Array;

function blendOnCpu(mesh) {
  const geometry = mesh.geometry;
  const plain = Object.entries(geometry.morphAttributes)
    .every(([key, targets]) => plainFloats(geometry.attributes[key]) && targets.every(plainFloats));
  if (!plain) return () => {};
  const parts = Object.entries(geometry.morphAttributes).map(([key, targets]) => ({
    attribute: geometry.attributes[key],
    rest: geometry.attributes[key].array.slice(),
    deltas: targets.map((t) => t.array),
  }));
  const relative = geometry.morphTargetsRelative;
  geometry.morphAttributes = {};
  return () => {
    const influences = mesh.morphTargetInfluences;
    for (const { attribute, rest, deltas } of parts) {
      const out = attribute.array;
      out.set(rest);
      for (let i = 0; i < deltas.length; i++) {
        const w = influences[i];
        if (!w) continue;
        const d = deltas[i];
        // glTF targets are offsets; absolute targets (relative false) blend from the rest shape.
        if (relative) for (let j = 0; j < out.length; j++) out[j] += w * d[j];
        else for (let j = 0; j < out.length; j++) out[j] += w * (d[j] - rest[j]);
      }
      attribute.needsUpdate = true;
    }
  };
}

// An unlit model (a photo's head: the light is already in its texture) is drawn with its colours as
// stored: no sRGB decode of every texel fetched and no encode of every pixel, which a software
// renderer does one by one, and the same picture. Its vertex colours, linear in glTF, are encoded
// once here, and the background is given as the pixels it should be.
function showAsStored(renderer, scene, model) {
  let unlit = true;
  model.traverse((o) => { if (o.isMesh && !o.material.isMeshBasicMaterial) unlit = false; });
  if (!unlit) return;
  renderer.outputColorSpace = THREE.LinearSRGBColorSpace;
  scene.background = new THREE.Color().setRGB(...BACKGROUND.map((c) => c / 255), THREE.LinearSRGBColorSpace);
  const encode = (c) => (c <= 0.0031308 ? 12.92 * c : 1.055 * Math.pow(c, 1 / 2.4) - 0.055);
  model.traverse((o) => {
    if (!o.isMesh) return;
    if (o.material.map) {
      o.material.map.colorSpace = THREE.NoColorSpace;
      o.material.map.needsUpdate = true;
    }
    const colours = o.geometry.attributes.color;
    if (colours) {
      for (let i = 0; i < colours.array.length; i++) colours.array[i] = encode(colours.array[i]);
      colours.needsUpdate = true;
    }
  });
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

export function weightsAt(timeline, t) {
  // The nearest curve frame, as the 2D renderer samples them (visemes.lead_ms is tuned for that).
  const i = Math.max(0, Math.min(Math.round(t * timeline.fps), timeline.frames - 1));
  const out = {};
  for (const [name, values] of Object.entries(timeline.curves)) {
    if (SKIP_WITH_VISEMES.has(name)) continue;
    out[name] = values[i];
  }
  return out;
}

// The idle pose under the visemes: the visemes win on the mouth, so the greeting's smile gives way
// as soon as the mouth speaks.
const SMILES = ["mouthSmile", "mouthSmileLeft", "mouthSmileRight"];
function layered(idle, weights) {
  const speaking = Object.entries(weights).some(([k, w]) => k.startsWith("viseme_") && k !== "viseme_sil" && w > 0.05);
  const out = { ...idle, ...weights };
  if (speaking) for (const k of SMILES) out[k] = weights[k] ?? 0;
  return out;
}

/** A Parley viseme timeline ({fps, curves}, as in visemes.json or the live "visemes" events). */
export function timelineFrom(data, source) {
  const frames = data.curves?.viseme_sil?.length;
  if (!data.fps || !frames) throw new Error(`${source} is not a Parley viseme timeline (no fps or curves)`);
  return { fps: data.fps, frames, curves: data.curves };
}

/**
 * Loads the model at `url` into `canvas`. Resolves to { targets, pose(weights), turn(degrees),
 * observe(event), applied() }; rejects with a message a person can act on when the model cannot be
 * loaded or has nothing to speak with. With `idle`, every pose is laid over the head's life between
 * words (idle3d.js) at the page's clock, in the mood the call's events (`observe`) set; without it a
 * pose is exactly its weights, the same pixels every time.
 */
export async function loadHead(canvas, url, { idle = false } = {}) {
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  renderer.setSize(canvas.width, canvas.height, false);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color().setRGB(...BACKGROUND.map((c) => c / 255), THREE.SRGBColorSpace);
  const camera = new THREE.PerspectiveCamera(30, canvas.width / canvas.height, 0.01, 10);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x404050, 2.2));
  const key = new THREE.DirectionalLight(0xffffff, 1.6);
  key.position.set(0.3, 0.4, 1);
  scene.add(key);

  let gltf;
  try {
    gltf = await new GLTFLoader().loadAsync(url);
  } catch (err) {
    throw new Error(`cannot load the model ${url}: ${err.message || err}`);
  }
  showAsStored(renderer, scene, gltf.scene);
  // Every mesh's morph dictionary: a name may live on several meshes (eyes, teeth, head).
  const morphMeshes = [];
  gltf.scene.traverse((obj) => {
    if (obj.isMesh && obj.morphTargetDictionary) morphMeshes.push(obj);
  });
  // For VRM models: expression name → [{ mesh, index, weight }] (null for RPM-style models).
  const vrm = await vrmBindings(gltf.parser);
  let targets;
  if (vrm) {
    targets = Object.keys(vrm).sort();
    const missing = VRM_VOWELS.filter((n) => !vrm[n]);
    if (missing.length) throw new Error(`This VRM model cannot speak: it has no expressions ${missing.join(", ")}.`);
  } else {
    const names = new Set(morphMeshes.flatMap((m) => Object.keys(m.morphTargetDictionary)));
    targets = [...names].sort();
    const missing = REQUIRED.filter((n) => !names.has(n));
    if (missing.length) {
      throw new Error(`This model cannot speak: it has no morph targets ${missing.join(", ")}. ` +
                      "A 3D avatar needs the 15 Ready Player Me / Oculus visemes as morph targets, or VRM expressions.");
    }
  }
  // Frame the head, whatever the model's size and origin.
  const box = new THREE.Box3().setFromObject(gltf.scene);
  const size = box.getSize(new THREE.Vector3());
  const centre = box.getCenter(new THREE.Vector3());
  camera.position.set(centre.x, centre.y, centre.z + size.y * 2.2);
  camera.lookAt(centre);
  // The head nods and sways about a point low in the model, near a neck, not about its centre (a
  // bust's whole body turns with it: its head is not a node of its own).
  const neck = new THREE.Group();
  neck.position.set(centre.x, centre.y - 0.25 * size.y, centre.z);
  gltf.scene.position.sub(neck.position);
  neck.add(gltf.scene);
  scene.add(neck);
  const head = { morphMeshes, vrm };
  const blends = morphMeshes.map(blendOnCpu);
  const life = idle ? idleLife() : null;
  let mood = { greetedAt: performance.now() / 1000 };  // a head greets when it appears
  let last = {};
  let applied = { weights: {}, turn: null };
  const pose = (weights) => {
    last = weights;
    if (life) {
      const now = life(performance.now() / 1000, mood);
      applied = { weights: layered(now.weights, weights), turn: now.turn, gaze: now.gaze };
      neck.rotation.set(now.turn.pitch, now.turn.yaw, now.turn.roll);
      neck.position.y = centre.y - 0.25 * size.y + now.turn.rise * size.y;
    } else {
      applied = { weights, turn: null };
    }
    setWeights(head, applied.weights);
    for (const blend of blends) blend();
    renderer.render(scene, camera);
  };
  const observe = (event) => { mood = moodAfter(mood, event, performance.now() / 1000); };
  // Each target's weight as drawn (the largest over the meshes that have it): what a test can read.
  const influence = (name) => Math.max(0, ...morphMeshes.filter((m) => name in m.morphTargetDictionary)
    .map((m) => m.morphTargetInfluences[m.morphTargetDictionary[name]]));
  // Turns the head about its vertical axis (degrees, + to the avatar's left), keeping the pose.
  const turn = (degrees) => {
    gltf.scene.rotation.y = (degrees * Math.PI) / 180;
    pose(last);
  };
  pose({});
  return { targets, pose, turn, observe, applied: () => applied, influence };
}

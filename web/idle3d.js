// A 3D head's life between words, as functions of the page's clock: blinks, saccades (eyeLook*
// shapes), a slow sway and breath, a nod now and then while the caller speaks, a smile for the
// greeting. One seeded schedule made up front (as the 2D face's parley/face/idle.py), so the same
// time and mood give the same pose and nothing here ever waits.

const HORIZON_S = 600;
const BLINK_S = 0.16;
const SACCADE_S = 0.04;
const NOD_S = 0.7;
const GREETING_S = [0.3, 1.6, 0.6];  // the smile's rise, hold and fall
const LOOK = 0.4;  // the eyeLook weight of the widest glance: well inside the shapes' full turn
const DEG = Math.PI / 180;

function random(seed) {  // mulberry32: small, seedable, the same on every browser
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ease = (x) => { x = Math.min(1, Math.max(0, x)); return x * x * (3 - 2 * x); };
const bump = (x) => (x > 0 && x < 1 ? Math.sin(Math.PI * x) ** 2 : 0);

function times(rand, low, high, first = 0) {
  const out = [];
  for (let t = first + low + rand() * (high - low); t < HORIZON_S; t += low + rand() * (high - low)) out.push(t);
  return out;
}

function last(list, t) {  // the index of the last entry at or before t, or -1
  let lo = 0, hi = list.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid] <= t) lo = mid + 1; else hi = mid; }
  return lo - 1;
}

/** The page's view of the call: listening since, greeted at (page clock, seconds). */
export function moodAfter(mood, event, t) {
  if (event.type === "speech_started" && mood.listeningSince == null) return { ...mood, listeningSince: t };
  if (event.type === "speech_ended") return { ...mood, listeningSince: null };
  if (event.type === "face_changed" && event.reason === "start") return { ...mood, greetedAt: t };
  return mood;
}

export function idleLife(seed = 1) {
  const rand = random(seed);
  const blinks = times(rand, 2.5, 5.5, -1.5);
  const saccades = times(rand, 1, 3);
  // Most fixations at the camera (the caller's eyes), a little off it; a third glance aside, more
  // across than up or down.
  const targets = [[0, 0], ...saccades.map(() => {
    if (rand() < 0.35) {
      const angle = rand() * 2 * Math.PI, reach = 0.5 + 0.5 * rand();
      return [reach * Math.cos(angle), 0.5 * reach * Math.sin(angle)];
    }
    return [(rand() - 0.5) * 0.3, (rand() - 0.5) * 0.2];
  })];
  const nods = times(rand, 2, 4.5, -1.2);  // the first about a second after the caller's first words

  const blink = (t) => {
    const i = last(blinks, t);
    const near = Math.min(...[i, i + 1].filter((j) => j >= 0 && j < blinks.length).map((j) => Math.abs(t - blinks[j])));
    return Math.max(0, 1 - near / (BLINK_S / 2));
  };
  const gaze = (t) => {
    const i = last(saccades, t) + 1;  // fixation i began at saccade i - 1
    if (i === 0) return targets[0];
    const [a, b] = [targets[i - 1], targets[i]], k = ease((t - saccades[i - 1]) / SACCADE_S);
    return [a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k];
  };
  const nod = (t, mood) => {
    if (mood.listeningSince == null || t < mood.listeningSince) return 0;
    const since = (t - mood.listeningSince) % HORIZON_S, i = last(nods, since);
    return i >= 0 ? bump((since - nods[i]) / NOD_S) : 0;
  };
  const smile = (t, mood) => {
    if (mood.greetedAt == null) return 0;
    const since = t - mood.greetedAt, [rise, hold, fall] = GREETING_S;
    if (since < 0 || since > rise + hold + fall) return 0;
    return since < rise + hold ? ease(since / rise) : 1 - ease((since - rise - hold) / fall);
  };

  /** The idle pose at t seconds: morph weights, and the head's turn (radians) and rise (its heights). */
  return (t, mood) => {
    t %= HORIZON_S;
    const [across, up] = gaze(t);
    const closed = blink(t), grin = smile(t, mood);
    const weights = {
      eyeBlinkLeft: closed, eyeBlinkRight: closed,
      // Looking to its left (the viewer's right) turns the left eye out and the right eye in.
      eyeLookOutLeft: LOOK * Math.max(across, 0), eyeLookInRight: LOOK * Math.max(across, 0),
      eyeLookInLeft: LOOK * Math.max(-across, 0), eyeLookOutRight: LOOK * Math.max(-across, 0),
      eyeLookUpLeft: LOOK * Math.max(up, 0), eyeLookUpRight: LOOK * Math.max(up, 0),
      eyeLookDownLeft: LOOK * Math.max(-up, 0), eyeLookDownRight: LOOK * Math.max(-up, 0),
      mouthSmile: grin * 0.7, mouthSmileLeft: grin * 0.7, mouthSmileRight: grin * 0.7,
    };
    const turn = {
      pitch: (0.8 * Math.sin(2 * Math.PI * 0.17 * t) + 5 * nod(t, mood)) * DEG,  // + is down
      yaw: (1.5 * Math.sin(2 * Math.PI * 0.07 * t + 0.5)) * DEG,
      roll: (0.9 * Math.sin(2 * Math.PI * 0.11 * t) + 0.4 * Math.sin(2 * Math.PI * 0.27 * t + 1.3)) * DEG,
      rise: 0.004 * Math.sin(2 * Math.PI * 0.25 * t),  // breathing
    };
    return { weights, turn, gaze: [across, up] };
  };
}

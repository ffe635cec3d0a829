"""The faces, 2D and 3D, of one avatar pair: how they look and what they cost, and a contact sheet.

2D (the warp renderer, one thread), over 10 s of the avatar's own voice:
- mouth sharpness: the variance of the Laplacian in the mouth box, speaking, against the photo's own
  (the same box of the portrait resampled without animation: the baseline of this run);
- edge artefacts: the share of mouth-box pixels whose horizontal gradient is beyond anything the
  photo has there (stripes and seams show up as such), against the same baseline;
- mouth opening against the audio: correlation of the mouth's darkening with the audio envelope,
  and the lag (ms) that matches them best;
- render cost per frame (p50, p95).
3D (the GLB in headless Chromium, SwiftShader): frames per second while posing, and the frame rate the
living head (``?idle=1``) is played at.
Contact sheet: the face at rest, at each viseme and blinking, 2D and 3D side by side; the 3D head
also turned 30° and 60°, and living between words (``perf.idle_views``: the greeting, a glance,
mid-blink, a listener's nod, a viseme over the smile).

    .venv/bin/python -m perf.bench_faces [--avatar portrait --avatar3d head3d] [--sheet docs/faces/portrait.jpg]
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from parley.assemble import Parley
from parley.core.speech import SpeechSegment, SpokenChunk, VisemeTrack
from parley.face.avatars import load_avatar
from parley.face.video import frame_count
from parley.speak.visemes import ARKIT_MIX, VISEMES
from perf.harness import REPO, arguments, load, machine, percentiles, report_path, save
from perf.idle_views import sheet_3d
from testbed.chromium import CHROMIUM_ARGS, POSED_FRAME_MS

TEXT = ("Welcome to Northfield University! The main library is in Hartley Hall, open from eight in the "
        "morning until ten at night. Campus tours leave from Admissions at eleven and at two.")
TILE = 192


def held(fps: float, **curves) -> SpokenChunk:
    """A chunk whose curves hold these values for two seconds: one pose, for the contact sheet."""
    frames = int(2 * fps)
    track = VisemeTrack(fps, 2.0, [], {k: [v] * frames for k, v in curves.items()})
    return SpokenChunk(SpeechSegment("", np.zeros(32000, np.float32), 16000, []), track)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def bench_2d(parley: Parley, avatar) -> tuple[dict, object]:
    cv2.setNumThreads(1)
    face = parley.face(avatar)
    speech = parley.engines.tts.synthesize(TEXT)
    chunk = SpokenChunk(speech, parley.engines.visemes.track(speech))
    fps = face.fps
    n = frame_count(speech.duration, fps)
    x0, y0, x1, y1 = face.mouth_box
    frames, cost = [], []
    for i in range(n):
        t0 = time.perf_counter()
        frames.append(face.frame(i / fps, chunk))
        cost.append((time.perf_counter() - t0) * 1000)
    still = [face.frame(i / fps) for i in range(n)]  # the same sway, mouth at rest: the photo's own pixels

    def sharpness(images):
        return float(np.mean([cv2.Laplacian(luma(f[y0:y1, x0:x1]), cv2.CV_32F).var() for f in images]))

    def gradients(image):
        return np.abs(np.diff(luma(image[y0:y1, x0:x1]), axis=1))

    limit = max(np.percentile(gradients(f), 99.9) for f in still[:: max(1, n // 20)])
    artefacts = float(np.mean([(gradients(f) > limit).mean() for f in frames]))
    baseline_artefacts = float(np.mean([(gradients(f) > limit).mean() for f in still]))
    opening = np.array([np.clip(luma(s[y0:y1, x0:x1]) - luma(f[y0:y1, x0:x1]), 0, None).mean()
                        for f, s in zip(frames, still)])
    hop = speech.sample_rate / fps
    envelope = np.array([np.sqrt(np.mean(speech.audio[int(i * hop): int((i + 1) * hop)] ** 2) + 1e-12)
                         for i in range(n)])
    lags = range(-5, 6)
    scores = [np.corrcoef(opening[max(0, k): n + min(0, k)], envelope[max(0, -k): n - max(0, k)])[0, 1] for k in lags]
    best = int(np.nanargmax(scores))
    return {
        "frames": n,
        **percentiles(cost, 2, "render_ms_p{}"),
        "mouth_sharpness": round(sharpness(frames), 1),
        "mouth_sharpness_photo": round(sharpness(still), 1),
        "edge_artefacts": round(artefacts, 5),
        "edge_artefacts_photo": round(baseline_artefacts, 5),
        "mouth_audio_correlation": round(float(np.corrcoef(opening, envelope)[0, 1]), 3),
        "mouth_audio_best_lag_ms": round(lags[best] * 1000 / fps, 1),
        "mouth_audio_best_correlation": round(float(scores[best]), 3),
    }, face


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def poses() -> list[tuple[str, dict]]:
    return [("rest", {}), *((v, {f"viseme_{v}": 1.0}) for v in VISEMES[1:]),
            ("blink", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0})]


# The frames the living head (avatar3d.html?idle=1, drawn every animation frame) gets drawn in 3 s.
FRAMES_PER_SECOND = """() => new Promise((done) => {
  let frames = 0;
  const t0 = performance.now();
  const count = () => { frames += 1; if (performance.now() - t0 < 3000) requestAnimationFrame(count); else done(frames / ((performance.now() - t0) / 1000)); };
  requestAnimationFrame(count);
})"""


def bench_3d(glb: Path) -> tuple[dict, dict]:
    """The head in Chromium: the time to pose and draw a frame, the frames per second it is played at
    while it lives between words, and a screenshot of each pose (and turned)."""
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_Files, directory=str(REPO))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/web/avatar3d.html?glb=/{glb.relative_to(REPO)}"
    shots = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("window.parley && (window.parley.ready || window.parley.error)", timeout=60_000)
            if page.evaluate("window.parley.error"):
                raise SystemExit(f"the 3D page could not load {glb}: {page.evaluate('window.parley.error')}")
            timing = page.evaluate(POSED_FRAME_MS)

            for name, weights in poses():
                page.evaluate("w => window.parley.pose(w)", weights)
                shots[name] = Image.open(io.BytesIO(page.locator("#stage").screenshot())).convert("RGB")
            for yaw in (30, 60):
                page.evaluate("y => window.parley.turn(y)", yaw)
                page.evaluate("w => window.parley.pose(w)", {"viseme_aa": 0.6})
                shots[f"turned {yaw:+d}°"] = Image.open(io.BytesIO(page.locator("#stage").screenshot())).convert("RGB")
            living = browser.new_page()
            living.goto(url + "&idle=1")
            living.wait_for_function("window.parley && window.parley.ready", timeout=60_000)
            played = living.evaluate(FRAMES_PER_SECOND)
            browser.close()
    finally:
        server.shutdown()
    return {"ms_per_frame": round(timing, 2), "fps": round(1000 / timing, 1), "played_fps": round(played, 1)}, shots


def contact_sheet(face, shots: dict, idle: Image.Image, path: Path) -> None:
    """Each pose: the 2D frame and the 3D render side by side, labelled; then the turned heads, and
    the idle 3D head below."""
    labels = [name for name, _ in poses()]
    curves_of = dict(poses())
    pairs = []
    for name in labels:
        weights = curves_of[name]
        if name == "blink":
            two_d = face.frame(face.idle.blink_times[0])
        else:  # the 2D face moves by the ARKit curves a viseme stands for
            two_d = face.frame(0.5, held(face.fps, **weights, **ARKIT_MIX.get(name, {})))
        pairs.append((name, Image.fromarray(two_d).resize((TILE, TILE)), shots[name].resize((TILE, TILE))))
    turned = [(k, v.resize((TILE, TILE))) for k, v in shots.items() if k.startswith("turned")]
    columns = 4
    rows = -(-len(pairs) // columns) + 1
    idle = idle.resize((columns * 2 * TILE, round(idle.height * columns * 2 * TILE / idle.width)))
    sheet = Image.new("RGB", (columns * 2 * TILE, rows * (TILE + 18) + idle.height), (24, 26, 32))
    sheet.paste(idle, (0, rows * (TILE + 18)))
    draw = ImageDraw.Draw(sheet)
    for i, (name, a, b) in enumerate(pairs):
        x, y = (i % columns) * 2 * TILE, (i // columns) * (TILE + 18)
        sheet.paste(a, (x, y + 18))
        sheet.paste(b, (x + TILE, y + 18))
        draw.text((x + 4, y + 3), f"{name}: 2D | 3D", fill=(230, 230, 230))
    y = (rows - 1) * (TILE + 18)
    for i, (name, image) in enumerate(turned):
        sheet.paste(image, (i * TILE, y + 18))
        draw.text((i * TILE + 4, y + 3), f"3D {name}", fill=(230, 230, 230))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=88)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--avatar", default="portrait")
    parser.add_argument("--avatar3d", default="head3d")
    parser.add_argument("--sheet", type=Path, help="where the contact sheet goes (default: beside the report)")
    args = parser.parse_args()
    parley = load(args, avatar=args.avatar)
    avatar, head = load_avatar(args.avatar), load_avatar(args.avatar3d)
    print(f"2D {avatar.name} ...", flush=True)
    two_d, face = bench_2d(parley, avatar)
    print(f"3D {head.name} in Chromium ...", flush=True)
    three_d, shots = bench_3d(head.model_path.resolve())
    report = report_path(f"faces-{avatar.name}", args.out)
    sheet = args.sheet or report.with_suffix(".jpg")
    contact_sheet(face, shots, sheet_3d([head.model_path.resolve()]), sheet)
    result = {"avatar": avatar.name, "avatar3d": head.name, "2d": two_d, "3d": three_d, "sheet": str(sheet),
              "machine": machine()}
    print(json.dumps(result, indent=2))
    print(f"2D: {two_d['render_ms_p50']} ms a frame (p95 {two_d['render_ms_p95']}); mouth sharpness "
          f"{two_d['mouth_sharpness']} vs the photo's {two_d['mouth_sharpness_photo']}; edge artefacts "
          f"{two_d['edge_artefacts']:.2%} vs {two_d['edge_artefacts_photo']:.2%}; mouth/audio r "
          f"{two_d['mouth_audio_correlation']} (best {two_d['mouth_audio_best_correlation']} at "
          f"{two_d['mouth_audio_best_lag_ms']:+.0f} ms). 3D: {three_d['fps']} fps posing, played at "
          f"{three_d['played_fps']} fps in headless Chromium.")
    save(result, report)
    print(f"contact sheet: {sheet}")


if __name__ == "__main__":
    main()

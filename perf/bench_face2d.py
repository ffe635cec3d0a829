"""Benchmark of the 2D portrait renderer: ms per 512×512 frame and CPU share of one session.

Renders 10 s of real speech (Piper + visemes) at 30 fps on one thread, and, as a baseline in the
same run, the cheapest possible frame: one plain ``cv2.remap`` of the portrait with a fixed map.
Also measures the mouth/audio offset (cross-correlation, frames) on the rendered frames.

    .venv/bin/python -m perf.bench_face2d
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from parley.core.speech import SpokenChunk
from parley.engines import engine_class
from parley.face.avatars import load_avatar
from parley.face.video import frame_count
from parley.face.warp import WarpFace
from parley.speak.visemes import CoarticulatedVisemes
from perf.harness import arguments, load, machine, percentiles, report_path, save

TEXT = ("Welcome to Northfield University! The main library is in Hartley Hall, open from eight in the "
        "morning until ten at night. Campus tours leave from Admissions at eleven and at two. "
        "The student centre, with the cafeteria and the bookshop, is next to the north car park.")


def main() -> None:
    args = arguments(__doc__).parse_args()
    cv2.setNumThreads(1)  # one session's renderer on one core
    parley = load(args)
    settings = parley.settings
    tts = engine_class("tts", settings.stack.tts.engine).from_settings(settings, parley.store)
    speech = tts.synthesize(TEXT)
    fps = settings.stack.visemes.fps
    track = CoarticulatedVisemes.from_config(settings.stack.visemes).track(speech)
    chunk = SpokenChunk(speech, track)
    renderer = WarpFace(load_avatar("portrait"), fps=fps)
    n = frame_count(track.duration, fps)

    times = []
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    frames = []
    for i in range(n):
        t0 = time.perf_counter()
        frames.append(renderer.frame(i / fps, chunk))
        times.append((time.perf_counter() - t0) * 1000)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0

    map_x, map_y = renderer._grid
    base = []
    for _ in range(n):
        t0 = time.perf_counter()
        cv2.remap(renderer.image, map_x, map_y, cv2.INTER_LINEAR)
        base.append((time.perf_counter() - t0) * 1000)

    # Mouth/audio offset on the rendered frames.
    box = renderer.mouth_box
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    rest = [renderer.frame(i / fps) for i in range(n)]
    openness = np.array([np.clip((r[box[1]:box[3], box[0]:box[2]] @ weights) - (f[box[1]:box[3], box[0]:box[2]] @ weights), 0, None).mean()
                         for r, f in zip(rest, frames)])
    hop = speech.sample_rate / fps
    env = np.array([np.sqrt(np.mean(speech.audio[int(i * hop):int((i + 1) * hop)] ** 2) + 1e-12) for i in range(n)])
    a, b = (openness - openness.mean()) / openness.std(), (env - env.mean()) / env.std()
    scores = {lag: float(np.mean(a[max(lag, 0):n + min(lag, 0)] * b[max(-lag, 0):n - max(lag, 0)])) for lag in range(-5, 6)}
    lag = max(scores, key=scores.get)

    result = {
        "machine": machine(),
        "frames": n, "size": renderer.size, "fps": fps,
        "frame_ms": {**percentiles(times, 2), "mean": round(float(np.mean(times)), 2)},
        "baseline_plain_remap_ms": round(float(np.median(base)), 2),
        "cpu_share_of_one_core_at_30fps": round(cpu / (n / fps), 3),
        "wall_share_at_30fps": round(wall / (n / fps), 3),
        "mouth_audio_offset_frames": lag, "mouth_audio_correlation": round(scores[lag], 3),
    }
    print(f"2D warp, {n} frames of {renderer.size}x{renderer.size}: p50 {result['frame_ms']['p50']} ms, "
          f"p95 {result['frame_ms']['p95']} ms (plain remap baseline {result['baseline_plain_remap_ms']} ms); "
          f"{result['cpu_share_of_one_core_at_30fps']:.0%} of one core per session at 30 fps; "
          f"mouth/audio offset {lag} frames (r={scores[lag]:.2f})")
    save(result, report_path("face2d", args.out))


if __name__ == "__main__":
    main()

"""Benchmark of the 2D face's life between words: ms per 512×512 frame while it listens or thinks.

On one thread, frame by frame in turn (so a busy machine slows all alike): the idle face before it
lived (the head's sway and breath, one affine warp of the portrait: the baseline), the face while
the avatar thinks (blinks, saccades), while the caller speaks (nods too) and as it greets (a smile,
which redraws the mouth as speech does).

    .venv/bin/python -m perf.bench_idle
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from parley.core.mood import Mood
from parley.face.avatars import load_avatar
from parley.face.warp import WarpFace
from perf.harness import arguments, machine, percentiles, report_path, save

SECONDS = 20.0
FPS = 30


def main() -> None:
    parser = arguments(__doc__, stack=False)
    parser.add_argument("--avatar", default="portrait")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one session's renderer on one core
    face = WarpFace(load_avatar(args.avatar), fps=FPS)

    def before(t: float) -> np.ndarray:
        to_image = face._head_affine(t) * face._scale
        to_image[:, 2] += face._origin
        return cv2.warpAffine(face.image, to_image, (face.size, face.size),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)

    modes = {
        "baseline_head_motion_only": before,
        "thinking": lambda t: face.frame(t),
        "listening": lambda t: face.frame(t, mood=Mood(listening_since=0.0)),
        "greeting": lambda t: face.frame(t % 2.5, mood=Mood(greeted_at=0.0)),
    }
    times: dict[str, list[float]] = {name: [] for name in modes}
    for i in range(int(SECONDS * FPS)):
        for name, draw in modes.items():
            t0 = time.perf_counter()
            draw(i / FPS)
            times[name].append((time.perf_counter() - t0) * 1000)

    base = float(np.median(times["baseline_head_motion_only"]))
    result = {
        "machine": machine(), "frames": int(SECONDS * FPS), "size": face.size, "fps": FPS,
        "frame_ms": {name: percentiles(ms, 2) for name, ms in times.items()},
        "extra_p50_ms": {name: round(float(np.median(ms)) - base, 2) for name, ms in times.items()},
    }
    for name, ms in result["frame_ms"].items():
        print(f"{name:>26}: p50 {ms['p50']} ms, p95 {ms['p95']} ms (+{result['extra_p50_ms'][name]} ms p50)")
    save(result, report_path("idle", args.out))


if __name__ == "__main__":
    main()

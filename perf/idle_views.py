"""The 2D face between words, looked at: one contact sheet of its idle frames (fixations at the
camera and aside, mid-blink, a listener's nod at its lowest, the greeting's smile, each with its
eyes enlarged beneath) from the face's own schedule.

    .venv/bin/python -m perf.idle_views [--avatar portrait] [--out docs/faces/idle2d.jpg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from parley.core.mood import Mood
from parley.face.avatars import load_avatar
from parley.face.idle import NOD_S
from parley.face.warp import WarpFace

REPO = Path(__file__).resolve().parents[1]
TILE = 320


def moments(face: WarpFace) -> list[tuple[str, float, Mood | None]]:
    """(label, t, mood): the first fixation (at the camera), the widest glances each way, a blink at
    its deepest, a nod at its lowest, the greeting at its broadest."""
    idle = face.idle
    middles = [(a + b) / 2 for a, b in zip(idle._saccades[:40], idle._saccades[1:41])]
    across = sorted(middles, key=lambda t: idle.gaze(t)[0])
    listening = Mood(listening_since=0.0)
    return [("at the camera", idle._saccades[0] / 2, None),
            (f"glance {idle.gaze(across[0])[0]:+.2f} across", across[0], None),
            (f"glance {idle.gaze(across[-1])[0]:+.2f} across", across[-1], None),
            ("mid-blink", idle.blink_times[1] - 0.03, None),
            ("nod, lowest (listening)", idle._nods[0] + NOD_S / 2, listening),
            ("greeting smile", 1.0, Mood(greeted_at=0.0))]


def sheet(face: WarpFace) -> Image.Image:
    shown = moments(face)
    eyes = [min(b[0] for b in face._eye_boxes), max(b[1] for b in face._eye_boxes),
            min(b[2] for b in face._eye_boxes), max(b[3] for b in face._eye_boxes)]
    strip_h = round(TILE * (eyes[1] - eyes[0]) / (eyes[3] - eyes[2]))
    out = Image.new("RGB", (TILE * len(shown), TILE + strip_h + 24), "white")
    draw = ImageDraw.Draw(out)
    for i, (label, t, mood) in enumerate(shown):
        frame = face.frame(t, mood=mood)
        out.paste(Image.fromarray(frame).resize((TILE, TILE), Image.LANCZOS), (i * TILE, 24))
        y0, y1, x0, x1 = eyes
        out.paste(Image.fromarray(np.ascontiguousarray(frame[y0:y1, x0:x1])).resize((TILE, strip_h), Image.LANCZOS),
                  (i * TILE, 24 + TILE))
        draw.text((i * TILE + 6, 6), f"{label}, t={t:.2f} s", fill="black")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--avatar", default="portrait")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "faces" / "idle2d.jpg")
    args = parser.parse_args()
    sheet(WarpFace(load_avatar(args.avatar), fps=30)).save(args.out, quality=88)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

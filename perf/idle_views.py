"""The face between words, looked at. In 2D, one contact sheet of its idle frames (fixations at the
camera and aside, mid-blink, a listener's nod at its lowest, the greeting's smile, each with its
eyes enlarged beneath) from the face's own schedule. With ``--glb``, the 3D page's idle head
(``avatar3d.html?idle=1``) in headless Chromium: each moment read from the canvas in the animation
frame where it first happens (the greeting, a glance, mid-blink, a nod, a viseme over the smile).

    .venv/bin/python -m perf.idle_views [--avatar portrait] [--out docs/faces/idle2d.jpg]
    .venv/bin/python -m perf.idle_views --glb avatars/head3d/head.glb [--glb OTHER.glb] --out docs/faces/idle3d.jpg
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import io
import threading
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from parley.core.mood import Mood
from parley.face.avatars import load_avatar
from parley.face.idle import NOD_S
from parley.face.warp import WarpFace
from testbed.chromium import CHROMIUM_ARGS

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


# (label, when: a condition on the page's last drawn sample s, before: what the page is told first)
MOMENTS_3D = [("greeting", "s.weights.mouthSmile > 0.6", None),
              ("glance", "Math.abs(s.weights.eyeLookOutLeft - s.weights.eyeLookInLeft) > 0.2", None),
              ("mid-blink", "s.weights.eyeBlinkLeft > 0.6", None),
              ("nod (listening)", "s.turn.pitch > 0.075", "window.parley.observe({type: 'speech_started'})"),
              ("viseme aa", "s.weights.viseme_aa === 1", "window.parley.pose({viseme_aa: 1})")]
DRAWN_WHEN = """(when) => new Promise((done) => {
  const holds = new Function("s", "return " + when);
  const step = () => {
    const s = window.parley.samples.at(-1);
    if (s && holds(s)) done(document.getElementById("stage").toDataURL("image/png"));
    else requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})"""


def sheet_3d(glbs: list[Path]) -> Image.Image:
    from playwright.sync_api import sync_playwright

    class Handler(http.server.SimpleHTTPRequestHandler):
        """The repository, and /glb/N: the N-th head shown, wherever it is."""

        def translate_path(self, path):
            if path.startswith("/glb/"):
                return str(glbs[int(path.removeprefix("/glb/"))].resolve())
            return super().translate_path(path)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(REPO)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = Image.new("RGB", (TILE * len(MOMENTS_3D), (TILE + 24) * len(glbs)), "white")
    draw = ImageDraw.Draw(out)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for row, glb in enumerate(glbs):
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/web/avatar3d.html?idle=1&glb=/glb/{row}")
            page.wait_for_function("window.parley && (window.parley.ready || window.parley.error)", timeout=60_000)
            for i, (label, when, before) in enumerate(MOMENTS_3D):
                if before:
                    page.evaluate(f"() => {before}")
                png = base64.b64decode(page.evaluate(DRAWN_WHEN, when).split(",")[1])
                tile = Image.open(io.BytesIO(png)).convert("RGB").resize((TILE, TILE), Image.LANCZOS)
                out.paste(tile, (i * TILE, row * (TILE + 24) + 24))
                draw.text((i * TILE + 6, row * (TILE + 24) + 6), f"{label}: {glb.name}", fill="black")
            page.close()
        browser.close()
    server.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--avatar", default="portrait")
    parser.add_argument("--glb", type=Path, action="append", help="a 3D head to show instead (repeatable)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "faces" / "idle2d.jpg")
    args = parser.parse_args()
    image = sheet_3d(args.glb) if args.glb else sheet(WarpFace(load_avatar(args.avatar), fps=30))
    image.save(args.out, quality=88)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

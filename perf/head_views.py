"""The whole 3D head (parley/face/make/fullhead.py) from photos, looked at: each built on the MakeHuman
base, timed, and drawn by the 3D page in headless Chromium from the front, at 45° and 90°, speaking
and blinking, into one contact sheet; its frame time measured there too.

    .venv/bin/python -m perf.head_views [--out docs/faces/fullhead.jpg] [PHOTO ...]

Default photos: matplotlib's sample portrait of Grace Hopper and the reference portrait (both
public domain). Needs `parley models fetch makehuman-head`.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import tempfile
import threading
import time
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw

from parley.config import load_settings
from parley.config.avatar import HEAD_BASE_MODEL, REPO_AVATARS
from parley.face.make.fullhead import build_full_head
from parley.face.make.photo import face_mesh, read_photo
from parley.models.store import ModelStore
from testbed.chromium import CHROMIUM_ARGS, POSED_FRAME_MS

REPO = Path(__file__).resolve().parents[1]
PHOTOS = [Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
          REPO_AVATARS / "portrait" / "portrait.png"]
VIEWS = [("front", 0, {}), ("45°", 45, {}), ("90°", 90, {}), ("-45°", -45, {}), ("viseme aa", 0, {"viseme_aa": 1.0}),
         ("viseme U", 0, {"viseme_U": 1.0}), ("blink", 0, {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
         ("looking left", 20, {"eyeLookOutLeft": 1.0, "eyeLookInRight": 1.0, "mouthSmileLeft": 0.6,
                               "mouthSmileRight": 0.6})]
TILE = 360


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def shoot(glbs: list[Path], served: Path) -> tuple[list[list[Image.Image]], list[float]]:
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Files, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows, frame_ms = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for glb in glbs:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/web/avatar3d.html?glb=/{glb.name}")
                page.wait_for_function("window.parley && (window.parley.ready || window.parley.error)", timeout=60_000)
                if page.evaluate("window.parley.error"):
                    raise SystemExit(f"{glb}: {page.evaluate('window.parley.error')}")
                frame_ms.append(page.evaluate(POSED_FRAME_MS))
                row = []
                for label, yaw, weights in VIEWS:
                    page.evaluate("y => window.parley.turn(y)", yaw)
                    page.evaluate("w => window.parley.pose(w)", weights)
                    shot = Image.open(io.BytesIO(page.locator("#stage").screenshot())).convert("RGB")
                    shot = shot.resize((TILE, TILE))
                    ImageDraw.Draw(shot).text((8, 8), f"{glb.stem}: {label}", fill=(255, 230, 90))
                    row.append(shot)
                rows.append(row)
            browser.close()
    finally:
        server.shutdown()
    return rows, frame_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", type=Path, default=PHOTOS)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "faces" / "fullhead.jpg")
    args = parser.parse_args()
    store = ModelStore(load_settings().registry)
    wheel = store.require(HEAD_BASE_MODEL) / store.registry.get(HEAD_BASE_MODEL).files[0].name
    with tempfile.TemporaryDirectory() as tmp:
        served = Path(tmp)
        (served / "web").symlink_to(REPO / "web")
        glbs = []
        for photo in args.photos:
            image = read_photo(photo)
            mesh = face_mesh(image)
            glb = served / f"{photo.stem}.glb"
            start = time.perf_counter()
            build_full_head(image, mesh, wheel, glb)
            print(f"{photo.name}: built in {time.perf_counter() - start:.1f} s, {glb.stat().st_size / 1e6:.2f} MB")
            glbs.append(glb)
        rows, frame_ms = shoot(glbs, served)
    for glb, ms in zip(glbs, frame_ms):
        print(f"{glb.stem}: {ms:.1f} ms a frame in headless Chromium (SwiftShader), {1000 / ms:.0f} fps")
    sheet = Image.new("RGB", (TILE * len(VIEWS), TILE * len(rows)))
    for i, row in enumerate(rows):
        for j, shot in enumerate(row):
            sheet.paste(shot, (TILE * j, TILE * i))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=85)
    print(f"contact sheet: {args.out}")


if __name__ == "__main__":
    main()

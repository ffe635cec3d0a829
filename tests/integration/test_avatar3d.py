"""The 3D avatar page in real headless Chromium (Debian's), driven by Playwright."""

import functools
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from parley.config import ConfigError
from parley.face.glb import GLBError, check_avatar
from parley.face.make.glb_writer import MeshData, write_glb
from testbed.chromium import CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]


class _Handler(http.server.SimpleHTTPRequestHandler):
    """The repository, plus /files/ mapped to a test's temporary folder."""

    extra: Path = REPO

    def translate_path(self, path):
        if path.startswith("/files/"):
            return str(self.extra / path.removeprefix("/files/").split("?")[0])
        return super().translate_path(path)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    files = tmp_path_factory.mktemp("served")
    handler = type("Handler", (_Handler,), {"extra": files})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(REPO)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", files
    srv.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url):
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function("window.parley && (window.parley.ready || window.parley.error)", timeout=60_000)
    return page


def mouth(page, weights):
    page.evaluate("w => window.parley.pose(w)", weights)
    from io import BytesIO

    from PIL import Image

    image = np.asarray(Image.open(BytesIO(page.locator("#stage").screenshot())).convert("RGB")).astype(int)
    return image[300:450, 150:360]  # the lower face of the framed head


def test_visemes_give_different_mouth_shapes(server, browser):
    base, _ = server
    page = open_page(browser, f"{base}/web/avatar3d.html")
    assert page.evaluate("window.parley.ready") and page.evaluate("window.parley.error") is None
    targets = set(page.evaluate("window.parley.targets"))
    assert {f"viseme_{v}" for v in ("sil", "PP", "aa", "O", "U", "E")} <= targets
    shots = {v: mouth(page, {f"viseme_{v}": 1}) for v in ("sil", "aa", "U", "PP")}
    assert np.array_equal(shots["sil"], mouth(page, {"viseme_sil": 1}))  # rendering is deterministic
    for a in shots:
        for b in shots:
            if a < b:
                assert np.abs(shots[a] - shots[b]).mean() > 0.5, (a, b)
    page.close()


def test_a_glb_without_visemes_is_refused(server, browser):
    base, files = server
    pos = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    write_glb(files / "mute.glb", [MeshData("Head", pos, np.array([[0, 1, 2]]), np.ones((3, 3)),
                                            {"jawOpen": np.zeros((3, 3))})])
    with pytest.raises(GLBError, match="viseme_sil, viseme_PP.*viseme_U"):
        check_avatar(files / "mute.glb")
    page = open_page(browser, f"{base}/web/avatar3d.html?glb=/files/mute.glb")
    error = page.evaluate("window.parley.error")
    assert "viseme_sil" in error and "viseme_U" in error and not page.evaluate("window.parley.ready")
    assert "cannot speak" in page.locator("#status").inner_text()
    page.close()


def test_avatar_yaml_with_a_mute_glb_is_a_config_error(tmp_path):
    from parley.face.avatars import load_avatar

    pos = np.eye(3)
    write_glb(tmp_path / "mute.glb", [MeshData("Head", pos, np.array([[0, 1, 2]]), np.ones((3, 3)))])
    (tmp_path / "avatar.yaml").write_text("name: mute\nkind: glb\nmodel: mute.glb\nlicence: x\n")
    with pytest.raises(ConfigError, match="avatar.yaml: model: .*no morph targets viseme_sil"):
        load_avatar(str(tmp_path / "avatar.yaml"))


def test_the_page_plays_a_reply_with_its_visemes(server, browser):
    base, files = server
    out = files / "reply"
    proc = subprocess.run([sys.executable, "-m", "parley.cli", "say", "Hello! Where is the library?", "--out",
                           str(out), "--avatar", "head3d"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    page = open_page(browser, f"{base}/web/avatar3d.html?visemes=/files/reply/visemes.json&audio=/files/reply/speech.wav")
    page.evaluate("window.parley.play()")
    page.wait_for_function("window.parley.samples.length > 20 && window.parley.samples.at(-1).t > 1.0", timeout=30_000)
    samples = page.evaluate("window.parley.samples")
    open_weights = [s["weights"]["viseme_aa"] + s["weights"]["viseme_E"] + s["weights"]["viseme_O"] for s in samples]
    assert max(open_weights) > 0.3 and min(open_weights) < 0.1  # the mouth opens and closes with the speech
    assert samples[-1]["t"] > samples[0]["t"]  # driven by the audio clock
    page.close()


def vrm_head(path, version):
    """A VRM-style model: arbitrary morph target names, bound to the vowel expressions."""
    from tests.egg_head import build_head

    head = build_head()[0]
    vowels = {"aa": "viseme_aa", "ih": "viseme_I", "ou": "viseme_U", "ee": "viseme_E", "oh": "viseme_O"}
    names = {f"Fcl_MTH_{k.upper()}": head.targets[v] for k, v in vowels.items()}
    mesh = MeshData("Face", head.positions, head.triangles, head.colours, names)
    index = {k: list(names).index(f"Fcl_MTH_{k.upper()}") for k in vowels}
    if version == 0:
        vrm0 = {"a": "aa", "i": "ih", "u": "ou", "e": "ee", "o": "oh"}
        groups = [{"name": p, "presetName": p, "binds": [{"mesh": 0, "index": index[v], "weight": 100}]}
                  for p, v in vrm0.items()]
        ext = {"VRM": {"blendShapeMaster": {"blendShapeGroups": groups}}}
    else:
        ext = {"VRMC_vrm": {"specVersion": "1.0", "expressions": {"preset": {
            v: {"morphTargetBinds": [{"node": 0, "index": i, "weight": 1.0}]} for v, i in index.items()}}}}
    write_glb(path, [mesh], extensions=ext)


@pytest.mark.parametrize("version", [0, 1])
def test_vrm_models_speak_through_their_vowel_expressions(server, browser, version):
    base, files = server
    path = files / f"head{version}.vrm"
    vrm_head(path, version)
    assert {"aa", "ih", "ou", "ee", "oh"} <= {
        {"a": "aa", "i": "ih", "u": "ou", "e": "ee", "o": "oh"}.get(n, n) for n in check_avatar(path)}
    page = open_page(browser, f"{base}/web/avatar3d.html?glb=/files/{path.name}")
    assert page.evaluate("window.parley.ready"), page.evaluate("window.parley.error")
    closed, wide, round_ = mouth(page, {"viseme_sil": 1}), mouth(page, {"viseme_aa": 1}), mouth(page, {"viseme_U": 1})
    assert np.abs(closed - wide).mean() > 0.5 and np.abs(wide - round_).mean() > 0.5
    page.close()

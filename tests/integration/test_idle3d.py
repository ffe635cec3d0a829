"""The 3D head between words (web/idle3d.js) in headless Chromium: with no speech it blinks, its eyes
and head move, it nods while the caller speaks and smiles a greeting, and visemes still drive the mouth."""

import math

import numpy as np

from parley.face.make.glb_writer import write_glb
from tests.egg_head import build_head
from tests.integration.test_avatar3d import browser, open_page, server  # noqa: F401 (fixtures)

LOOKS = [f"eyeLook{d}{s}" for d in ("In", "Out", "Up", "Down") for s in ("Left", "Right")]


def frames(page, seconds):
    """The poses the page drew over the next ``seconds``: [{t, weights, turn}]."""
    page.evaluate("() => { window.parley.samples.length = 0; }")
    page.wait_for_timeout(int(seconds * 1000))
    return page.evaluate("window.parley.samples")


def test_with_no_speech_the_head_blinks_looks_about_and_moves(server, browser):  # noqa: F811
    base, _ = server
    page = open_page(browser, f"{base}/web/avatar3d.html?idle=1")
    drawn = frames(page, 6.5)  # blinks are at most 5.5 s apart, fixations at most 3 s
    assert len(drawn) / 6.5 > 10  # frames often enough to see a 160 ms blink
    blinks = [f["weights"]["eyeBlinkLeft"] for f in drawn]
    assert max(blinks) > 0.4 and np.mean(np.array(blinks) > 0) < 0.2
    looks = {tuple(round(f["weights"][k], 4) for k in LOOKS) for f in drawn}
    assert len(looks) >= 2  # at least one saccade
    for axis in ("pitch", "yaw", "roll"):
        assert np.ptp([f["turn"][axis] for f in drawn]) > math.radians(0.05), axis
    assert max(abs(f["turn"]["pitch"]) for f in drawn) < math.radians(1.5)  # no nod: nobody speaks
    page.close()


def test_it_nods_while_the_caller_speaks_and_smiles_a_greeting_under_the_visemes(server, browser):  # noqa: F811
    base, _ = server
    page = open_page(browser, f"{base}/web/avatar3d.html?idle=1")
    page.evaluate("() => window.parley.observe({type: 'speech_started'})")
    listening = frames(page, 4.5)  # the first nod comes within 3.3 s and lasts 0.7 s
    assert max(f["turn"]["pitch"] for f in listening) > math.radians(3)
    page.evaluate("() => window.parley.observe({type: 'speech_ended'})")
    page.evaluate("() => window.parley.observe({type: 'face_changed', rung: 'browser3d', reason: 'start'})")
    page.wait_for_timeout(600)
    assert page.evaluate("window.parley.influence('mouthSmileLeft')") > 0.5
    page.evaluate("() => window.parley.pose({viseme_aa: 1})")
    page.wait_for_timeout(100)
    drawn = page.evaluate("[window.parley.influence('viseme_aa'), window.parley.influence('mouthSmileLeft')]")
    assert drawn == [1, 0]  # the visemes win on the mouth
    page.close()


def test_eyes_with_look_shapes_turn_by_them(server, browser):  # noqa: F811
    base, files = server
    meshes = build_head()
    face = meshes[0]
    for k, name in enumerate(LOOKS):  # any motion of the face's points will do: the test reads the weights
        delta = np.zeros_like(face.positions)
        delta[:, k % 3] = 0.001
        face.targets[name] = delta
    write_glb(files / "eyes.glb", meshes)
    page = open_page(browser, f"{base}/web/avatar3d.html?idle=1&glb=/files/eyes.glb")
    seen = set()
    for _ in range(35):  # 7 s: at least two saccades
        seen.add(tuple(round(v, 3) for v in page.evaluate(f"{LOOKS}.map((n) => window.parley.influence(n))")))
        page.wait_for_timeout(200)
    assert len(seen) >= 2 and max(max(s) for s in seen) > 0
    page.close()

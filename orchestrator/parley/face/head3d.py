"""A 3D head from one photo: MediaPipe's face mesh with its depth, painted with the photo, closed into a head.

- The face is the mesh's 468 points, textured with the photo at its own resolution. Its edge is
  carried back round the skull, coloured from the photo's skin and hair, so the head can turn
  (about ±25°) without showing a hole.
- The eye openings are filled with the photo's eyes and blink: the upper lid closes onto the lower.
- The mouth opening leads into a cavity (darker towards the back), with upper teeth fixed to the
  skull, and lower teeth and a tongue that move with the jaw.
- Morph targets in the Ready Player Me / Oculus viseme names and the ARKit mouth, jaw and blink names
  are mixes of a few motions of the mesh's own lip, jaw and eyelid points: the jaw turns about a
  hinge behind the mouth, the corners widen, the lips round and push forward, the lower lip tucks.

Every material is unlit (KHR_materials_unlit): the photo already holds the light it was taken in.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from parley.face.avatars import INNER_LIPS, MESH_POINTS
from parley.face.glb import MeshData, write_glb

# Each viseme as amounts of the basic mouth motions (cf. parley.speak.visemes.ARKIT_MIX).
VISEME_MIX = {
    "sil": {}, "PP": {"close": 1.0}, "FF": {"jaw": 0.1, "tuck": 1.0}, "TH": {"jaw": 0.15},
    "DD": {"jaw": 0.2}, "kk": {"jaw": 0.25}, "CH": {"jaw": 0.15, "round": 0.6}, "SS": {"jaw": 0.08, "smile": 0.3},
    "nn": {"jaw": 0.2}, "RR": {"jaw": 0.15, "round": 0.35, "pucker": 0.2}, "aa": {"jaw": 0.7},
    "E": {"jaw": 0.4, "smile": 0.3}, "I": {"jaw": 0.25, "smile": 0.5}, "O": {"jaw": 0.5, "round": 0.6},
    "U": {"jaw": 0.25, "pucker": 0.8},
}
ARKIT = {"jawOpen": "jaw", "mouthSmile": "smile", "mouthFunnel": "round", "mouthPucker": "pucker",
         "mouthClose": "close", "mouthRollLower": "tuck"}
MOTIONS = ("jaw", "smile", "round", "pucker", "close", "tuck", "blinkLeft", "blinkRight")

FACE_WIDTH_M = 0.14  # cheek to cheek: the mesh is scaled to a real head's size
JAW_DEGREES = 20.0
SHELL_RINGS = 8
TEXTURE_MAX = 1024
FACE_POINTS = 468  # the mesh proper; 468..477 are the irises


@cache
def _connections():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mediapipe.python.solutions import face_mesh_connections as c
    return c


@cache
def face_triangles() -> np.ndarray:
    """The face mesh's triangles, from its tesselation's edges (MediaPipe ships edges, not faces).

    Every 3-cycle of the edge graph is a face except the few that enclose others; those are the
    triangles whose three edges are each shared by three 3-cycles."""
    adjacent = defaultdict(set)
    for a, b in _connections().FACEMESH_TESSELATION:
        adjacent[a].add(b)
        adjacent[b].add(a)
    cycles = {tuple(sorted((a, b, c))) for a in adjacent for b in adjacent[a] for c in adjacent[a] & adjacent[b]}
    uses = defaultdict(int)
    for t in cycles:
        for edge in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])):
            uses[edge] += 1
    faces = [t for t in cycles if not all(uses[e] == 3 for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))]
    return np.array(sorted(faces))


def _loop(edges) -> list[int]:
    """The points of a closed contour (a set of edges), in order round it."""
    adjacent = defaultdict(list)
    for a, b in edges:
        adjacent[a].append(b)
        adjacent[b].append(a)
    start = min(adjacent)
    order, previous = [start], None
    while True:
        here = order[-1]
        step = next(n for n in adjacent[here] if n != previous)
        if step == start:
            return order
        previous = here
        order.append(step)


def _smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _linear(srgb):  # glTF vertex colours are linear; photo samples are sRGB
    c = np.asarray(srgb, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _fan(ring: list[int], centre: int) -> list[tuple[int, int, int]]:
    return [(ring[i], ring[(i + 1) % len(ring)], centre) for i in range(len(ring))]


def _strip(a: list[int], b: list[int], closed: bool) -> list[tuple[int, int, int]]:
    """Triangles between two rows of vertex indices of the same length."""
    n = len(a) if closed else len(a) - 1
    out = []
    for i in range(n):
        j = (i + 1) % len(a)
        out += [(a[i], b[i], a[j]), (a[j], b[i], b[j])]
    return out


class HeadBuilder:
    """The head of one face: ``mesh`` is ``parley.face.avatars.face_mesh``'s (478, 3) pixel points of ``image``."""

    def __init__(self, image: np.ndarray, mesh: np.ndarray) -> None:
        self.image = image
        self.px = mesh[:, :2]
        c = _connections()
        self.oval = _loop(c.FACEMESH_FACE_OVAL)
        self.eyes = {"Left": _loop(c.FACEMESH_LEFT_EYE), "Right": _loop(c.FACEMESH_RIGHT_EYE)}
        self.mouth_loop = INNER_LIPS["upper"] + INNER_LIPS["lower"][-2:0:-1]
        left, right = mesh[MESH_POINTS["face_left"]], mesh[MESH_POINTS["face_right"]]
        scale = FACE_WIDTH_M / np.linalg.norm(right[:2] - left[:2])
        centre = mesh[self.oval].mean(axis=0)
        self.scale, self.centre_px = scale, centre[:2]
        self.p = np.stack([(mesh[:, 0] - centre[0]) * scale, -(mesh[:, 1] - centre[1]) * scale,
                           -(mesh[:, 2] - centre[2]) * scale], axis=1)
        self.mouth = (self.p[13] + self.p[14]) / 2
        self.mouth_w = float(np.linalg.norm(self.p[291] - self.p[61]))

    # -- the photo -----------------------------------------------------------------------------
    def texture(self) -> tuple[bytes, np.ndarray]:
        """The photo around the head as JPEG (at most ``TEXTURE_MAX`` pixels a side), and the
        pixel → UV offset and size."""
        h, w = self.image.shape[:2]
        x0, y0 = self.px[:FACE_POINTS].min(axis=0)
        x1, y1 = self.px[:FACE_POINTS].max(axis=0)
        size = int(max(x1 - x0, y1 - y0) * 1.15)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        left, top = int(np.clip(cx - size / 2, 0, max(0, w - size))), int(np.clip(cy - size / 2, 0, max(0, h - size)))
        crop = self.image[top: top + size, left: left + size]
        side = max(crop.shape[:2])
        square = np.zeros((side, side, 3), np.uint8)
        square[: crop.shape[0], : crop.shape[1]] = crop[:, :, :3]
        # A power of two a side (what mipmaps want), at the photo's own resolution or just above.
        pot = min(TEXTURE_MAX, 1 << int(np.ceil(np.log2(max(side, 2)))))
        square = cv2.resize(square, (pot, pot), interpolation=cv2.INTER_AREA if pot < side else cv2.INTER_CUBIC)
        _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(square, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        return jpeg.tobytes(), np.array([left, top, side], np.float64)

    def colour_at(self, px: np.ndarray, radius: int = 3) -> np.ndarray:
        """The photo's mean sRGB colour (0..1) around each pixel position."""
        h, w = self.image.shape[:2]
        out = []
        for x, y in np.atleast_2d(px):
            x, y = int(np.clip(x, 0, w - 1)), int(np.clip(y, 0, h - 1))
            patch = self.image[max(0, y - radius): y + radius + 1, max(0, x - radius): x + radius + 1, :3]
            out.append(patch.reshape(-1, 3).mean(axis=0) / 255.0)
        return np.array(out)

    # -- the motions of the face's own points ----------------------------------------------------
    def motions(self, q: np.ndarray) -> dict[str, np.ndarray]:
        """Each basic motion as a displacement of the points ``q`` (the face's, or the eye fills')."""
        x, y, z = q.T
        m, mw = self.mouth, self.mouth_w
        lower = self.p[INNER_LIPS["lower"]]
        upper = self.p[INNER_LIPS["upper"]]
        order = np.argsort(lower[:, 0])
        lower_y = np.interp(x, lower[order, 0], lower[order, 1])
        upper_order = np.argsort(upper[:, 0])
        upper_y = np.interp(x, upper[upper_order, 0], upper[upper_order, 1])
        inside = np.abs(x - m[0]) <= mw / 2
        below = np.where(inside, (y <= lower_y + 1e-6).astype(float), _smooth((lower_y - y) / (0.5 * mw)))
        corners = 1 - 0.6 * np.clip(np.abs(x - m[0]) / (mw / 2), 0, 1) ** 4
        sides = 1 - 0.7 * _smooth((np.abs(x - m[0]) - 0.22 * FACE_WIDTH_M) / (0.25 * FACE_WIDTH_M))
        jaw_w = below * corners * sides
        hinge = np.array([m[0], m[1] + 0.3 * mw, m[2] - 1.1 * mw])
        angle = np.radians(JAW_DEGREES) * jaw_w
        rel = q - hinge
        jaw = np.stack([np.zeros_like(x), rel[:, 1] * np.cos(angle) - rel[:, 2] * np.sin(angle) - rel[:, 1],
                        rel[:, 1] * np.sin(angle) + rel[:, 2] * np.cos(angle) - rel[:, 2]], axis=1)

        smile = np.zeros_like(q)
        for corner in (61, 291):
            c = self.p[corner]
            reach = np.clip(1 - np.linalg.norm(q[:, :2] - c[:2], axis=1) / (0.6 * mw), 0, 1) ** 2
            smile += reach[:, None] * np.array([np.sign(c[0] - m[0]) * 0.13 * mw, 0.05 * mw, -0.03 * mw])

        lips = np.clip(1 - ((x - m[0]) / (0.8 * mw)) ** 2 - ((y - m[1]) / (0.5 * mw)) ** 2, 0, 1) ** 1.5
        upper_lip = lips * (y > upper_y - 1e-6)
        lower_lip = lips * (y <= lower_y + 1e-6)

        def rounding(narrow: float, forward: float, part: float) -> np.ndarray:
            return np.stack([-(x - m[0]) * narrow * lips, part * mw * (0.03 * upper_lip - 0.06 * lower_lip),
                             forward * mw * lips], axis=1)

        close = np.stack([np.zeros_like(x), mw * (0.02 * lower_lip - 0.02 * upper_lip), 0.01 * mw * lips], axis=1)
        tuck = np.stack([np.zeros_like(x), 0.06 * mw * lower_lip, -0.07 * mw * lower_lip], axis=1)
        out = {"jaw": jaw, "smile": smile, "round": rounding(0.3, 0.1, 1.0), "pucker": rounding(0.42, 0.16, 0.1),
               "close": close, "tuck": tuck}
        out.update(self.blinks(q))
        return out

    def lower_lid(self, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The eye's lower lid (the corners and the points below the line between them): which points
        of its loop, and their x and y in order of x."""
        ring = self.p[self.eyes[side]]
        left, right = ring[:, 0].argmin(), ring[:, 0].argmax()
        is_lower = ring[:, 1] <= np.interp(ring[:, 0], ring[[left, right], 0], ring[[left, right], 1])
        lower = ring[is_lower]
        order = np.argsort(lower[:, 0])
        return is_lower, lower[order, 0], lower[order, 1]

    def blinks(self, q: np.ndarray) -> dict[str, np.ndarray]:
        """Each upper lid onto its lower one; the skin just above follows part of the way."""
        out = {}
        for side, loop in self.eyes.items():
            ring = self.p[loop]
            left, right = ring[:, 0].argmin(), ring[:, 0].argmax()
            is_lower, lower_x, lower_y = self.lower_lid(side)
            closed_y = np.interp(ring[:, 0], lower_x, lower_y)
            # The upper lid (with the corners, which stay) and how far each of its points drops.
            lid = ~is_lower
            lid[[left, right]] = True
            order = np.argsort(ring[lid, 0])
            lid_x, lid_y = ring[lid, 0][order], ring[lid, 1][order]
            drop = np.where(is_lower, 0.0, closed_y - ring[:, 1])[lid][order]
            span = max(ring[right, 0] - ring[left, 0], 1e-6)
            # Points over the eye follow the lid by how near to it they are (the lid itself fully).
            above = q[:, 1] - np.interp(q[:, 0], lid_x, lid_y)
            inside = (q[:, 0] >= lid_x[0]) & (q[:, 0] <= lid_x[-1]) & (above >= -1e-9)
            near = np.clip(1 - above / (0.5 * span), 0, 1) * inside
            delta = np.zeros_like(q)
            delta[:, 1] = np.interp(q[:, 0], lid_x, drop) * near
            out[f"blink{side}"] = delta
        return out

    # -- the parts -------------------------------------------------------------------------------
    def build(self) -> tuple[list[MeshData], bytes]:
        texture, self.crop = self.texture()
        left, top, side = self.crop
        face_p = list(self.p[:FACE_POINTS])
        face_px = list(self.px[:FACE_POINTS])
        triangles = [tuple(t) for t in face_triangles()]
        centres = {}
        for eye, loop in self.eyes.items():  # fill each eye opening with the photo's eye
            centres[eye] = len(face_p)
            face_p.append(self.p[loop].mean(axis=0) - np.array([0, 0, 0.002]))
            face_px.append(self.px[loop].mean(axis=0))
            triangles += _fan(loop, centres[eye])
        face_p, face_px = np.array(face_p), np.array(face_px)
        # The mesh's edge lies on the face's outline, where the photo may already be background.
        face_px[self.oval] += (face_px[self.oval].mean(axis=0) - face_px[self.oval]) * 0.05
        uv = (face_px - [left, top]) / side
        face_motion = self.motions(face_p)
        for eye, centre in centres.items():  # the fill's middle goes down with the lid, so it closes whole
            _, lower_x, lower_y = self.lower_lid(eye)
            face_motion[f"blink{eye}"][centre, 1] = np.interp(face_p[centre, 0], lower_x, lower_y) - face_p[centre, 1]
        face = MeshData("Face", face_p, np.array(triangles), np.ones((len(face_p), 3)),
                        self._targets(face_motion), uv=uv)
        shell = self._shell(face_motion)
        mouth = self._mouth(face_motion)
        return [face, shell, *mouth], texture

    def _targets(self, motion: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        zero = np.zeros_like(next(iter(motion.values())))
        targets = {f"viseme_{v}": sum((a * motion[k] for k, a in mix.items()), zero) for v, mix in VISEME_MIX.items()}
        targets.update({name: motion[k] for name, k in ARKIT.items()})
        targets.update({"eyeBlinkLeft": motion["blinkLeft"], "eyeBlinkRight": motion["blinkRight"]})
        return targets

    def _shell(self, face_motion) -> MeshData:
        """The oval's edge carried back round the skull to a closed back of the head."""
        ring0 = self.p[self.oval]
        depth = 0.62 * FACE_WIDTH_M
        centre = np.array([0.0, ring0[:, 1].mean(), ring0[:, 2].mean() - depth])
        rel = ring0 - centre
        face_h = ring0[:, 1].max() - ring0[:, 1].min()
        # The edge's own colour a little inside the face (outside it may be background), then the
        # cheeks' skin below the temples and the hair above, which the photo shows over the forehead.
        edge = self.colour_at(self.px[self.oval] + (self.px[self.oval].mean(axis=0) - self.px[self.oval]) * 0.1)
        skin = np.median(self.colour_at(self.px[[50, 280, 205, 425]]), axis=0)
        top = self.px[MESH_POINTS["face_top"]]
        chin_px = self.px[MESH_POINTS["chin"]]
        hair = np.median(self.colour_at(top + np.array([[dx, -0.08 * (chin_px[1] - top[1])]
                                                        for dx in np.linspace(-30, 30, 7)])), axis=0)
        positions, colours, deltas = [], [], {k: [] for k in MOTIONS}
        top_half = rel[:, 1] > 0
        for k in range(SHELL_RINGS + 1):
            t = k / SHELL_RINGS
            phi = np.pi * t  # 0 at the face's edge, pi at the back of the head
            side, back = np.sin(phi), ((1 - np.cos(phi)) / 2) ** 3
            # Widest behind the face (the ears), a crown above the forehead, rounding in to the back.
            grow_x = 1 + 0.08 * side - 0.55 * back
            grow_y = np.where(top_half, 1 + 0.5 * side - 0.5 * back, 1 + 0.05 * side - 0.55 * back)
            positions.append(centre + np.stack([rel[:, 0] * grow_x, rel[:, 1] * grow_y, rel[:, 2] * np.cos(phi)], 1))
            upper = (rel[:, 1] > -0.15 * face_h)[:, None]
            target = np.where(upper, hair, skin * 0.85)
            colours.append((edge + (target - edge) * _smooth(t / 0.3)) * (1 - 0.15 * t))
            for name in MOTIONS:
                deltas[name].append(face_motion[name][self.oval] * max(0.0, 1 - 3 * t))
        n = len(self.oval)
        positions.append(positions[-1].mean(axis=0, keepdims=True) - [0, 0, 0.1 * depth])
        colours.append(hair[None, :] * 0.85)
        for name in MOTIONS:
            deltas[name].append(np.zeros((1, 3)))
        triangles = []
        for k in range(SHELL_RINGS):
            triangles += _strip(list(range(k * n, (k + 1) * n)), list(range((k + 1) * n, (k + 2) * n)), closed=True)
        triangles += _fan(list(range(SHELL_RINGS * n, (SHELL_RINGS + 1) * n)), (SHELL_RINGS + 1) * n)
        motion = {name: np.concatenate(d) for name, d in deltas.items()}
        return MeshData("Head", np.concatenate(positions), np.array(triangles), _linear(np.concatenate(colours)),
                        self._targets(motion))

    def _mouth(self, face_motion) -> list[MeshData]:
        """The cavity behind the lips (darker towards the back), the teeth and the tongue."""
        m, mw = self.mouth, self.mouth_w
        loop = self.mouth_loop
        ring0 = self.p[loop]
        rings = [ring0, m + (ring0 - m) * [0.85, 0.8, 1] - [0, 0, 0.25 * mw],
                 m + (ring0 - m) * [0.6, 0.55, 1] - [0, 0, 0.45 * mw]]
        follow = (1.0, 0.9, 0.75)
        shades = ([0.55, 0.24, 0.24], [0.24, 0.07, 0.07], [0.07, 0.02, 0.02])
        n = len(loop)
        positions = [*rings, (m - [0, 0.05 * mw, 0.5 * mw])[None, :]]
        colours = [np.tile(s, (n, 1)) for s in shades] + [np.array([shades[-1]])]
        motion = {k: [face_motion[k][loop] * f for f in follow] for k in MOTIONS}
        for k in MOTIONS:
            motion[k].append(motion[k][-1].mean(axis=0, keepdims=True))
        triangles = _strip(list(range(n)), list(range(n, 2 * n)), True) + \
            _strip(list(range(n, 2 * n)), list(range(2 * n, 3 * n)), True) + _fan(list(range(2 * n, 3 * n)), 3 * n)
        targets = self._targets({k: np.concatenate(v) for k, v in motion.items()})
        cavity = MeshData("MouthCavity", np.concatenate(positions), np.array(triangles),
                          _linear(np.concatenate(colours)), targets)

        jaw_at_lip = face_motion["jaw"][14]

        def band(lip: list[int], top: float, bottom: float, gum_row: int, moves_with_jaw: bool, name: str):
            """A row of teeth just behind ``lip``, from ``top`` to ``bottom`` (in mouth widths)."""
            base = m + (self.p[lip] - m) * [0.86, 1, 1] - [0, 0, 0.06 * mw]
            rows = [base + [0, top * mw, 0], base + [0, bottom * mw, -0.015 * mw]]
            k = len(lip)
            rigid = {key: np.zeros((2 * k, 3)) for key in MOTIONS}
            if moves_with_jaw:
                rigid["jaw"] = np.tile(jaw_at_lip, (2 * k, 1))
            shade = [np.tile([0.93, 0.91, 0.85], (k, 1)), np.tile([0.93, 0.91, 0.85], (k, 1))]
            shade[gum_row] = shade[gum_row] * 0.8
            return MeshData(name, np.concatenate(rows), np.array(_strip(list(range(k)), list(range(k, 2 * k)), False)),
                            _linear(np.concatenate(shade)), self._targets(rigid))

        if self.open_in_photo():
            teeth = self._photo_teeth(face_motion)
        else:
            teeth = [band(INNER_LIPS["upper"], 0.03, -0.11, 0, False, "TeethUpper"),
                     band(INNER_LIPS["lower"], 0.08, -0.03, 1, True, "TeethLower")]
        return [cavity, *teeth, self._tongue(jaw_at_lip)]

    def open_in_photo(self) -> bool:
        """Whether the photo's mouth is open (on teeth, most often): then the head shows what it shows."""
        width = np.linalg.norm(self.px[291] - self.px[61])
        return bool(self.px[14][1] - self.px[13][1] > 0.1 * width)

    def uv_of(self, q: np.ndarray) -> np.ndarray:
        """Where points of the head fall on the texture, seen straight on."""
        left, top, side = self.crop
        px = np.stack([q[:, 0] / self.scale + self.centre_px[0], -q[:, 1] / self.scale + self.centre_px[1]], 1)
        return (px - [left, top]) / side

    def _photo_teeth(self, face_motion) -> list[MeshData]:
        """The photo's own teeth: its mouth opening cut along the middle, the upper half fixed to the
        skull, the lower half moving with the lower lip; each tucked a little under its lip."""
        mw = self.mouth_w
        upper, lower = self.p[INNER_LIPS["upper"]], self.p[INNER_LIPS["lower"]]
        middle = (upper + lower) / 2
        back = np.array([0, 0, 0.04 * mw])
        k = len(upper)
        out = []
        for name, rows, uv_rows, follow in (
            ("TeethUpper", [upper + [0, 0.03 * mw, 0], upper, middle], [upper, upper, middle], None),
            ("TeethLower", [middle, lower, lower - [0, 0.03 * mw, 0]], [middle, lower, lower], INNER_LIPS["lower"]),
        ):
            positions = np.concatenate(rows) - back
            motion = {key: np.zeros_like(positions) for key in MOTIONS}
            if follow is not None:
                motion["jaw"] = np.tile(face_motion["jaw"][follow], (3, 1))
            triangles = _strip(list(range(k)), list(range(k, 2 * k)), False) + \
                _strip(list(range(k, 2 * k)), list(range(2 * k, 3 * k)), False)
            out.append(MeshData(name, positions, np.array(triangles), np.ones((3 * k, 3)), self._targets(motion),
                                uv=self.uv_of(np.concatenate(uv_rows))))
        return out

    def _tongue(self, jaw_at_lip: np.ndarray) -> MeshData:
        """A low dome on the floor of the mouth, moving with the jaw."""
        m, mw = self.mouth, self.mouth_w
        cols, rows = 9, 7
        u, v = np.meshgrid(np.linspace(-1, 1, cols), np.linspace(-1, 1, rows), indexing="ij")
        u, v = u * np.sqrt(1 - v**2 / 2), v * np.sqrt(1 - u**2 / 2)  # the square onto a disc
        u, v = u.ravel(), v.ravel()
        positions = m + np.stack([0.3 * mw * u, -0.14 * mw + 0.05 * mw * (1 - u**2 - v**2).clip(0),
                                  -0.27 * mw + 0.15 * mw * v], axis=1)
        triangles = []
        for i in range(cols - 1):
            triangles += _strip(list(range(i * rows, (i + 1) * rows)), list(range((i + 1) * rows, (i + 2) * rows)),
                                closed=False)
        rigid = {key: np.zeros_like(positions) for key in MOTIONS}
        rigid["jaw"] = np.tile(jaw_at_lip * 0.9, (len(positions), 1))
        colours = np.tile([0.74, 0.36, 0.38], (len(positions), 1)) * (0.75 + 0.25 * (1 - v**2))[:, None]
        return MeshData("Tongue", positions, np.array(triangles), _linear(colours), self._targets(rigid))


def build_head(image: np.ndarray, mesh: np.ndarray, out: Path) -> None:
    """Write the GLB head of the face ``mesh`` (``face_mesh``'s points) of ``image`` (RGB) to ``out``."""
    meshes, texture = HeadBuilder(image, mesh).build()
    write_glb(out, meshes, texture=texture, unlit=True)

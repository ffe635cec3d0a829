"""How the face of a photo's mesh moves: each basic motion (the jaw, the corners, the lips, the
eyelids) as a displacement of the mesh's own points, and the morph targets mixed from them."""

from __future__ import annotations

import numpy as np

from parley.config.avatar import MESH_POINTS
from parley.face.make.mesh import connections, contour, smooth
from parley.face.make.photo import INNER_LIPS

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


class FaceMotion:
    """The face of ``mesh`` (``parley.face.make.photo.face_mesh``'s (478, 3) pixel points) in metres,
    x right, y up, z towards the camera, and how its points move."""

    def __init__(self, mesh: np.ndarray) -> None:
        self.px = mesh[:, :2]
        c = connections()
        self.oval = contour(c.FACEMESH_FACE_OVAL)
        self.eyes = {"Left": contour(c.FACEMESH_LEFT_EYE), "Right": contour(c.FACEMESH_RIGHT_EYE)}
        self.mouth_loop = INNER_LIPS["upper"] + INNER_LIPS["lower"][-2:0:-1]
        left, right = mesh[MESH_POINTS["face_left"]], mesh[MESH_POINTS["face_right"]]
        scale = FACE_WIDTH_M / np.linalg.norm(right[:2] - left[:2])
        centre = mesh[self.oval].mean(axis=0)
        self.scale, self.centre_px = scale, centre[:2]
        self.p = np.stack([(mesh[:, 0] - centre[0]) * scale, -(mesh[:, 1] - centre[1]) * scale,
                           -(mesh[:, 2] - centre[2]) * scale], axis=1)
        self.mouth = (self.p[13] + self.p[14]) / 2
        self.mouth_w = float(np.linalg.norm(self.p[291] - self.p[61]))

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
        below = np.where(inside, (y <= lower_y + 1e-6).astype(float), smooth((lower_y - y) / (0.5 * mw)))
        corners = 1 - 0.6 * np.clip(np.abs(x - m[0]) / (mw / 2), 0, 1) ** 4
        sides = 1 - 0.7 * smooth((np.abs(x - m[0]) - 0.22 * FACE_WIDTH_M) / (0.25 * FACE_WIDTH_M))
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

    def targets(self, motion: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The morph targets (the visemes, the ARKit names, the blinks) mixed from ``motion``, each basic
        motion's displacement of some points."""
        zero = np.zeros_like(next(iter(motion.values())))
        targets = {f"viseme_{v}": sum((a * motion[k] for k, a in mix.items()), zero) for v, mix in VISEME_MIX.items()}
        targets.update({name: motion[k] for name, k in ARKIT.items()})
        targets.update({"eyeBlinkLeft": motion["blinkLeft"], "eyeBlinkRight": motion["blinkRight"]})
        return targets

"""An eyeball: a sphere about its own centre, looking along +z, and how the ARKit eyeLook shapes turn it."""

from __future__ import annotations

import numpy as np

from parley.face.make.mesh import fan, strip

# Rings by angle from the line of sight (radians), each with its colour: pupil, iris, limbus, white.
RINGS = ((0.09, "pupil"), (0.18, "pupil"), (0.24, "iris"), (0.44, "iris"), (0.5, "limbus"), (0.56, "white"),
         (0.9, "white"), (1.4, "white"), (2.0, "white"), (2.6, "white"))
SEGMENTS = 32
WHITE, PUPIL = np.array([0.9, 0.88, 0.84]), np.array([0.03, 0.03, 0.03])
TURN_DEGREES = {"Up": 25.0, "Down": 25.0, "In": 30.0, "Out": 30.0}


def _rotation(axis: str, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def eyeball(radius: float, iris_srgb: np.ndarray, side: str):
    """Positions, triangles, sRGB colours and the eyeLook shapes of the ``side`` ("Left": the figure's
    left, at +x) eye."""
    iris = np.asarray(iris_srgb, float)
    colour = {"pupil": PUPIL, "iris": iris, "limbus": iris * 0.45, "white": WHITE}
    angle = np.linspace(0, 2 * np.pi, SEGMENTS, endpoint=False)
    positions, colours = [], []
    for theta, part in RINGS:
        ring = np.stack([np.sin(theta) * np.cos(angle), np.sin(theta) * np.sin(angle),
                         np.full(SEGMENTS, np.cos(theta))], axis=1) * radius
        positions.append(ring)
        colours.append(np.tile(colour[part], (SEGMENTS, 1)))
    rings = [list(range(k * SEGMENTS, (k + 1) * SEGMENTS)) for k in range(len(RINGS))]
    front, back = len(RINGS) * SEGMENTS, len(RINGS) * SEGMENTS + 1
    positions += [np.array([[0, 0, radius], [0, 0, -radius]])]
    colours += [np.array([PUPIL, WHITE])]
    triangles = fan(rings[0], front) + fan(rings[-1][::-1], back)
    for a, b in zip(rings, rings[1:]):
        triangles += strip(b, a, closed=True)
    positions = np.concatenate(positions)
    # Towards the nose is -x for the left eye, +x for the right one.
    inward = -1.0 if side == "Left" else 1.0
    turns = {"Up": _rotation("x", -TURN_DEGREES["Up"]), "Down": _rotation("x", TURN_DEGREES["Down"]),
             "In": _rotation("y", inward * TURN_DEGREES["In"]), "Out": _rotation("y", -inward * TURN_DEGREES["Out"])}
    shapes = {f"eyeLook{way}{side}": positions @ r.T - positions for way, r in turns.items()}
    return positions, np.array(triangles), np.concatenate(colours), shapes

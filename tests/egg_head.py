"""A stylised egg of a head with RPM-style morph targets (viseme_sil … viseme_U, jawOpen, mouthSmile,
mouthFunnel, mouthPucker, mouthClose, eyeBlinkLeft/Right): the 3D page's test fixture for models that
are not made from a photo (the VRM tests rebind its targets). The shipped avatars are made from photos
(``parley avatar init``, parley/face/make/head3d.py).

The head is an ellipsoid with a mouth slit (lips, a dark mouth interior and upper teeth behind it) and
two eyes. Each viseme is a mix of a few mouth motions (jaw, width, rounding, closing, lower-lip tuck),
the mix the photo heads use.
"""

from __future__ import annotations

import numpy as np

from parley.face.make.glb_writer import MeshData
from parley.face.make.mesh import linear
from parley.face.make.motion import VISEME_MIX

SKIN, LIPS = linear([0.86, 0.66, 0.55]), linear([0.72, 0.32, 0.33])
MOUTH_Y, MOUTH_W, LIP_H = -0.048, 0.032, 0.011
RADII = np.array([0.085, 0.112, 0.095])


def ellipsoid(radii, centre, lat=48, lon=64):
    theta = np.linspace(0, np.pi, lat + 1)  # from the top (+y) down
    phi = np.linspace(-np.pi, np.pi, lon + 1)[:-1]  # around; phi = 0 faces +z
    t, p = np.meshgrid(theta, phi, indexing="ij")
    pos = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], -1).reshape(-1, 3) * radii + centre
    tris = []
    for i in range(lat):
        for j in range(lon):
            a, b = i * lon + j, i * lon + (j + 1) % lon
            c, d = a + lon, b + lon
            tris += [(a, c, b), (b, c, d)]
    return pos, np.array(tris)


def smoothstep(x):
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def build_head() -> list[MeshData]:
    pos, tris = ellipsoid(RADII, np.zeros(3))
    x, y, z = pos.T
    front = z > 0.03
    # Cut the mouth: drop triangles whose centre is inside the slit ellipse.
    centre = pos[tris].mean(axis=1)
    cut = (centre[:, 2] > 0.03) & (((centre[:, 0] / MOUTH_W) ** 2 + ((centre[:, 1] - MOUTH_Y) / 0.0035) ** 2) < 1)
    tris = tris[~cut]
    lip = front & (((x / (MOUTH_W * 1.12)) ** 2 + ((y - MOUTH_Y) / LIP_H) ** 2) < 1)
    colours = np.where(lip[:, None], LIPS, SKIN)

    # Weights of each region, used by the motions.
    below = smoothstep((MOUTH_Y - y) / 0.006) * (z > -0.01) * smoothstep((0.05 - np.abs(x)) / 0.04 + 0.5)
    lips_w = np.exp(-((x / (MOUTH_W * 1.3)) ** 2 + ((y - MOUTH_Y) / (LIP_H * 1.6)) ** 2)) * front
    upper = lips_w * (y >= MOUTH_Y)
    lower = lips_w * (y < MOUTH_Y)
    corners = np.exp(-(((np.abs(x) - MOUTH_W) / 0.012) ** 2 + ((y - MOUTH_Y) / 0.01) ** 2)) * front

    def jaw():  # rotate the lower face about a hinge behind the mouth
        angle = np.radians(22) * below
        hinge = np.array([0.0, MOUTH_Y + 0.01, -0.02])
        rel = pos - hinge
        cos, sin = np.cos(angle), np.sin(angle)
        moved = np.stack([rel[:, 0], rel[:, 1] * cos - rel[:, 2] * sin, rel[:, 1] * sin + rel[:, 2] * cos], 1)
        return moved + hinge - pos

    def width(amount):  # corners outward (smile, and up a little) or inward
        d = np.zeros_like(pos)
        d[:, 0] = amount * 0.008 * np.sign(x) * corners
        d[:, 1] = max(amount, 0) * 0.004 * corners
        return d

    def rounding(narrow, forward, part):
        d = np.zeros_like(pos)
        d[:, 0] = -narrow * 0.35 * x * lips_w
        d[:, 2] = forward * 0.008 * lips_w
        d[:, 1] = part * 0.003 * (upper - lower)
        return d

    motions = {
        "jaw": jaw(),
        "smile": width(1.0),
        "round": rounding(0.6, 0.6, 1.0),
        "pucker": rounding(1.0, 1.0, 0.3),
        "close": np.stack([np.zeros_like(x), -0.0025 * upper + 0.0025 * lower, 0.002 * lips_w], 1),
        "tuck": np.stack([np.zeros_like(x), 0.004 * lower, -0.004 * lower], 1),
    }
    targets = {f"viseme_{v}": sum((a * motions[m] for m, a in mix.items()), np.zeros_like(pos))
               for v, mix in VISEME_MIX.items()}
    targets.update({"jawOpen": motions["jaw"], "mouthSmile": motions["smile"], "mouthFunnel": motions["round"],
                    "mouthPucker": motions["pucker"], "mouthClose": motions["close"]})
    head = MeshData("Head", pos, tris, colours, targets)

    inner_pos, inner_tris = ellipsoid(np.array([0.028, 0.015, 0.018]), np.array([0, MOUTH_Y - 0.002, 0.058]), 16, 24)
    mouth = MeshData("MouthInterior", inner_pos, inner_tris, np.tile(linear([0.22, 0.05, 0.07]), (len(inner_pos), 1)))
    teeth_pos, teeth_tris = ellipsoid(np.array([0.024, 0.004, 0.01]), np.array([0, MOUTH_Y + 0.0025, 0.074]), 8, 24)
    teeth = MeshData("Teeth", teeth_pos, teeth_tris, np.tile(linear([0.95, 0.94, 0.9]), (len(teeth_pos), 1)))

    meshes = [head, mouth, teeth]
    for side, sx in (("Left", 1.0), ("Right", -1.0)):  # the avatar's left is +x, facing +z
        for part, radii, offset, colour in (("Eye", (0.013, 0.011, 0.008), 0.084, (0.97, 0.97, 0.95)),
                                            ("Iris", (0.006, 0.006, 0.003), 0.091, (0.2, 0.15, 0.1))):
            colour = linear(colour)
            centre = np.array([sx * 0.032, 0.018, offset])
            p, t = ellipsoid(np.array(radii), centre, 12, 18)
            blink = np.zeros_like(p)
            blink[:, 1] = -(p[:, 1] - centre[1]) * 0.92  # squash to a closed line
            meshes.append(MeshData(f"{part}{side}", p, t, np.tile(colour, (len(p), 1)), {f"eyeBlink{side}": blink}))
    return meshes

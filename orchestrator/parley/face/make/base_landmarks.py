"""The MediaPipe landmarks of the base head: MediaPipe is shown a shaded front view of it.

The same 478 points on the base and on the photo are what the fit (``parley.face.make.fit``) matches,
with no hand-made table of which base vertex is which landmark.
"""

from __future__ import annotations

import cv2
import numpy as np

from parley.face.make.base_mesh import BaseMesh
from parley.face.make.photo import face_mesh

VIEW_PX = 512
LIGHT = np.array([0.2, 0.3, 1.0]) / np.linalg.norm([0.2, 0.3, 1.0])


def _front_view(quads: list[tuple[np.ndarray, float]], corner: np.ndarray, per_m: float):
    """A shaded picture (RGB) and, per pixel, which quad (1-based, 0 none) is seen: nearest drawn last."""
    picture = np.full((VIEW_PX, VIEW_PX, 3), 40, np.uint8)
    seen = np.zeros((VIEW_PX, VIEW_PX), np.int32)
    drawn = []
    for corners, albedo in quads:
        normal = np.cross(corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1])
        normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
        shade = albedo * (0.2 + 0.8 * np.clip(normal @ LIGHT, 0, 1))
        drawn += zip(corners[:, :, 2].mean(axis=1), corners, shade)
    order = np.argsort([d[0] for d in drawn], kind="stable")
    for index in order:
        _, corners, shade = drawn[index]
        px = np.round(_pixels(corners, corner, per_m) * 16).astype(np.int32)
        cv2.fillConvexPoly(picture, px, (int(225 * shade), int(180 * shade), int(160 * shade)), cv2.LINE_AA, 4)
        cv2.fillConvexPoly(seen, px, int(index) + 1, cv2.LINE_8, 4)
    return picture, seen, [d[1] for d in drawn]


def _pixels(points: np.ndarray, corner: np.ndarray, per_m: float) -> np.ndarray:
    """Pixels of points seen from the front, ``corner`` the view's top left (x, y in metres)."""
    return np.stack([(points[..., 0] - corner[0]) * per_m, (corner[1] - points[..., 1]) * per_m], -1)


def base_landmarks(base: BaseMesh, skin: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """The (478, 3) landmarks on the base, in its metres: ``skin`` and ``eyes`` are the (Q,4) vertex
    quads of the head's skin and eyeballs (eyes drawn dark, as MediaPipe expects to see them)."""
    v = base.vertices
    used = v[np.unique(skin)][:, :2]
    low, high = used.min(axis=0), used.max(axis=0)
    half = (high - low).max() * 0.55
    corner = (low + high) / 2 + [-half, half]
    per_m = VIEW_PX / (2 * half)
    picture, seen, corners = _front_view([(v[skin], 0.85), (v[eyes], 0.25)], corner, per_m)
    marks = face_mesh(picture)
    out = np.empty((len(marks), 3))
    for i, (x, y, _) in enumerate(marks):
        hit = seen[int(np.clip(y, 0, VIEW_PX - 1)), int(np.clip(x, 0, VIEW_PX - 1))]
        point = corner + np.array([x, -y]) / per_m
        if not hit:  # past the skin's edge (the face's outline can be): the nearest vertex's depth
            out[i] = [*point, _nearest_depth(v[np.unique(skin)], point)]
            continue
        quad = corners[hit - 1]
        # The quad's plane, least squares over its four corners, gives the depth under the point.
        a, *_ = np.linalg.lstsq(np.c_[quad[:, :2], np.ones(4)], quad[:, 2], rcond=None)
        out[i] = [*point, a[0] * point[0] + a[1] * point[1] + a[2]]
    return out


def _nearest_depth(points: np.ndarray, at: np.ndarray) -> float:
    return float(points[np.argmin(((points[:, :2] - at) ** 2).sum(axis=1)), 2])

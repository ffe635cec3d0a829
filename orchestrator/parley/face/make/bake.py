"""Painting a mesh's texture in its own UV layout: what each texel shows, from its triangle's corners."""

from __future__ import annotations

import cv2
import numpy as np


def rasterise(uv_triangles: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Which triangle (``-1`` none) covers each texel of a ``size``² texture, and the texel's barycentric
    weights in it. ``uv_triangles`` is (T,3,2) in glTF's UVs (v down)."""
    owner = np.zeros((size, size), np.int32)
    for index, corners in enumerate(uv_triangles):
        cv2.fillConvexPoly(owner, np.round(corners * size * 16 - 8).astype(np.int32), index + 1, cv2.LINE_8, 4)
    owner -= 1
    ys, xs = np.nonzero(owner >= 0)
    tri = uv_triangles[owner[ys, xs]] * size
    p = np.stack([xs + 0.5, ys + 0.5], axis=1)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    den = np.where(np.abs(den) < 1e-12, 1e-12, den)
    w1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    w2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    # Texels on an edge lie a little outside their triangle: clipped and summed to one, they take its edge.
    inside = np.clip(np.stack([1 - w1 - w2, w1, w2], axis=1), 0, 1)
    weights = np.zeros((size, size, 3))
    weights[ys, xs] = inside / np.maximum(inside.sum(axis=1, keepdims=True), 1e-9)
    return owner, weights


def interpolate(owner: np.ndarray, weights: np.ndarray, corner_values: np.ndarray) -> np.ndarray:
    """Per-corner values (T,3,K) spread over the covered texels (zeros elsewhere)."""
    out = np.zeros((*owner.shape, corner_values.shape[2]))
    ys, xs = np.nonzero(owner >= 0)
    out[ys, xs] = np.einsum("nk,nkc->nc", weights[ys, xs], corner_values[owner[ys, xs]])
    return out


def bleed(image: np.ndarray, covered: np.ndarray, steps: int = 6) -> np.ndarray:
    """Colours pushed a few texels past the triangles' edges, so filtering at a UV seam does not
    draw the empty texture around an island."""
    colour = image.astype(np.float32) * covered[..., None]
    have = covered.astype(np.float32)
    kernel = np.ones((3, 3), np.float32)
    for _ in range(steps):
        grown = cv2.filter2D(colour, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        count = cv2.filter2D(have, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        fill = (have == 0) & (count > 0)
        colour[fill] = grown[fill] / count[fill, None]
        have[fill] = 1
    return colour

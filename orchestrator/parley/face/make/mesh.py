"""The MediaPipe face mesh's topology (its triangles and contours, from the edges MediaPipe ships) and
the small pieces of geometry a head is built from."""

from __future__ import annotations

import warnings
from collections import defaultdict
from functools import cache

import numpy as np


@cache
def connections():
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
    for a, b in connections().FACEMESH_TESSELATION:
        adjacent[a].add(b)
        adjacent[b].add(a)
    cycles = {tuple(sorted((a, b, c))) for a in adjacent for b in adjacent[a] for c in adjacent[a] & adjacent[b]}
    uses = defaultdict(int)
    for t in cycles:
        for edge in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])):
            uses[edge] += 1
    faces = [t for t in cycles if not all(uses[e] == 3 for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])))]
    return np.array(sorted(faces))


def contour(edges) -> list[int]:
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


def smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def linear(srgb):  # glTF vertex colours are linear; photo samples and picked colours are sRGB
    c = np.asarray(srgb, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def fan(ring: list[int], centre: int) -> list[tuple[int, int, int]]:
    return [(ring[i], ring[(i + 1) % len(ring)], centre) for i in range(len(ring))]


def strip(a: list[int], b: list[int], closed: bool) -> list[tuple[int, int, int]]:
    """Triangles between two rows of vertex indices of the same length."""
    n = len(a) if closed else len(a) - 1
    out = []
    for i in range(n):
        j = (i + 1) % len(a)
        out += [(a[i], b[i], a[j]), (a[j], b[i], b[j])]
    return out

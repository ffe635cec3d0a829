"""A base head's shape bent to a photo's face: the same landmarks found on both, matched.

The head stays upright and facing forward at its own size; the photo's pose and scale go into the
camera (``LandmarkFit.to_photo``), so a face photographed a little turned still makes a head that
looks ahead, and its texture is still projected from where each point was seen.
"""

from __future__ import annotations

import numpy as np

# The face may be a little wider or longer than the base's; more than this is a landmark gone wrong.
STRETCH = (0.85, 1.15)
# MediaPipe's depth is a guess from one view: only part of it is believed.
DEPTH_TRUST = 0.4


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale, rotation and translation taking ``src`` (N,3) closest to ``dst`` (Umeyama's method)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(b.T @ a / len(src))
    flip = np.eye(3)
    flip[2, 2] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rotation = u @ flip @ vt
    scale = float(np.trace(np.diag(sigma) @ flip) / (a**2).sum(axis=1).mean())
    return scale, rotation, mu_d - scale * rotation @ mu_s


class LandmarkFit:
    """Bends points near ``src`` (the base's landmarks, metres) so that, seen through the camera, they
    land on ``dst`` (the photo's same landmarks, x right, y up, z towards the camera, any unit).

    A stretch of the whole head in width and height, then a smooth displacement (Gaussian radial
    basis functions of width ``radius`` metres) that is gone a few radii from the face."""

    def __init__(self, src: np.ndarray, dst: np.ndarray, radius: float = 0.012, smoothing: float = 1e-3) -> None:
        self.scale, self.rotation, self.shift = similarity(src, dst)
        seen = (dst - self.shift) @ self.rotation / self.scale  # the photo's landmarks, in the head's frame
        self.centre = src.mean(axis=0)
        a, b = src - self.centre, seen - self.centre
        k = np.clip((a * b).sum(axis=0)[:2] / (a**2).sum(axis=0)[:2], *STRETCH)
        self.stretch = np.array([k[0], k[1], k.mean()])
        self.anchors = self.centre + a * self.stretch
        residual = seen - self.anchors
        residual[:, 2] *= DEPTH_TRUST
        self.radius = radius
        kernel = self._kernel(self.anchors)
        self.weights = np.linalg.solve(kernel + smoothing * np.eye(len(kernel)), residual)
        # Landmarks close together that move apart (a photo's open mouth on the base's closed one)
        # make the field overshoot between them; no point moves further than a landmark does.
        self.reach = float(np.linalg.norm(residual, axis=1).max())

    def _kernel(self, points: np.ndarray) -> np.ndarray:
        d2 = ((points[:, None, :] - self.anchors[None, :, :]) ** 2).sum(axis=2)
        return np.exp(-d2 / (2 * self.radius**2))

    def apply(self, points: np.ndarray, shapes: dict[str, np.ndarray] | None = None):
        """``points`` bent to the photo's face; with ``shapes`` (offsets of the same points), also those
        offsets stretched as the head is, so a shape moves the fitted face as much as it moved the base."""
        stretched = self.centre + (points - self.centre) * self.stretch
        out = stretched.copy()
        for start in range(0, len(points), 4096):  # bounded memory for the kernel
            block = slice(start, start + 4096)
            move = self._kernel(stretched[block]) @ self.weights
            length = np.linalg.norm(move, axis=1, keepdims=True)
            out[block] += move * np.minimum(1.0, self.reach / np.maximum(length, 1e-12))
        if shapes is None:
            return out
        return out, {name: d * self.stretch for name, d in shapes.items()}

    def apply_rigid(self, points: np.ndarray) -> np.ndarray:
        """``points`` stretched and moved together, as the field moves their middle: a part that must
        keep its shape (the teeth) where the field bends sharply (between lips the photo parts)."""
        stretched = self.centre + (points - self.centre) * self.stretch
        return stretched + self.apply(points.mean(axis=0, keepdims=True)) - (
            self.centre + (points.mean(axis=0, keepdims=True) - self.centre) * self.stretch)

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Where fitted points are seen in the photo's frame (``dst``'s)."""
        return self.scale * points @ self.rotation.T + self.shift

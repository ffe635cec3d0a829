"""The 2D face's eyelids: for a blink, each eye is covered from the top by a lid of the person's own skin.

A lid is the colour of the skin just above the eye (the upper lid's own skin in the photo), so it
reads as that skin coming down. Its lower edge follows the arch of the upper lid's margin and moves
down to the lower lid's; every edge is feathered, so no line is drawn anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass(frozen=True)
class _Eye:
    outer: np.ndarray
    inner: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    skin: np.ndarray  # RGB


class Eyelids:
    def __init__(self, points: dict[str, np.ndarray], rest: np.ndarray) -> None:
        """``points``: the portrait's landmarks and ``rest``: the face unmoved, both in output pixels."""
        self._eyes = [self._eye(points, side, rest) for side in ("left", "right")]

    @staticmethod
    def _eye(points: dict[str, np.ndarray], side: str, rest: np.ndarray) -> _Eye:
        outer, inner = points[f"{side}_eye_outer"], points[f"{side}_eye_inner"]
        top, bottom = points[f"{side}_eye_top"], points[f"{side}_eye_bottom"]
        h = max(bottom[1] - top[1], 2.0)
        centre_x, half_w = (outer[0] + inner[0]) / 2, abs(inner[0] - outer[0]) / 4
        # The upper lid's own skin, just above its lashes, less what is much darker than it (lashes, a
        # brow or the rim of glasses in the band).
        rows = slice(max(int(top[1] - 0.8 * h), 0), max(int(top[1] - 0.2 * h), 1))
        cols = slice(max(int(centre_x - half_w), 0), max(int(centre_x + half_w), 1))
        band = rest[rows, cols].reshape(-1, 3).astype(np.float32)
        luma = band @ LUMA
        skin = np.median(band[luma >= 0.8 * np.median(luma)], axis=0)
        return _Eye(outer, inner, top, bottom, skin)

    def draw(self, out: np.ndarray, forward: np.ndarray, closure: float) -> None:
        """Lids closed by ``closure`` (0 open, 1 shut) onto ``out``, whose face has moved by ``forward``
        (face → output pixels)."""
        for eye in self._eyes:
            outer, inner, top, bottom = (forward[:, :2] @ p + forward[:, 2]
                                         for p in (eye.outer, eye.inner, eye.top, eye.bottom))
            h = max(bottom[1] - top[1], 2.0)
            reach = 0.1 * abs(inner[0] - outer[0])  # the lid reaches a little past each corner
            x0, x1 = int(min(outer[0], inner[0]) - reach), int(max(outer[0], inner[0]) + reach) + 1
            y0, y1 = int(top[1] - 1.5 * h), int(bottom[1] + 0.6 * h) + 1
            if x0 < 0 or y0 < 0 or x1 > out.shape[1] or y1 > out.shape[0]:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            span = inner[0] - outer[0]
            u = (xx - outer[0]) / (span if abs(span) > 1 else 1.0)  # 0 at the outer corner, 1 at the inner
            corners = outer[1] + u * (inner[1] - outer[1])
            wide = (u + 0.06) / 1.12
            arch = 2 * np.sqrt(np.clip(wide * (1 - wide), 0.0, None))  # an almond that closes past the corners
            middle = (outer[1] + inner[1]) / 2
            # From above the lashes, so a lid that has just begun is skin over skin, to past the lower
            # lid's margin, so the soft edge leaves no sliver of the eye showing.
            start = corners - (max(middle - top[1], 0.25 * h) + 0.15 * h) * arch
            end = corners + (max(bottom[1] - middle, 0.25 * h) + 0.15 * h) * arch
            edge = start + closure * (end - start)
            above_edge = _smoothstep((edge - yy) / max(0.25 * h, 1.0) + 0.5)
            # The lid's top fades into the photo's own lid skin, which is its colour.
            fade = np.maximum(0.5 * h * arch, 1.0)
            below_top = _smoothstep((yy - start) / fade + 1.0)
            alpha = (above_edge * below_top)[..., None]
            roi = out[y0:y1, x0:x1].astype(np.float32)
            # At its top the lid is the colour of the skin it comes out of, column by column, so it
            # joins the face without a seam (the lid's skin where that is lashes or a shadow); lower
            # down, the lid's skin, darker towards its edge as it curves away from the light.
            window = np.clip((start[0] - h * np.array([[0.6], [0.35], [0.1]])).astype(int) - y0, 0, roi.shape[0] - 1)
            joins = np.median(roi[window, np.arange(roi.shape[1])], axis=0)
            joins = cv2.GaussianBlur(joins[None], (0, 0), max(0.3 * h, 1.0))[0]
            kept = np.clip((joins @ LUMA / max(float(eye.skin @ LUMA), 1.0) - 0.75) / 0.2, 0.0, 1.0)[:, None]
            joins = eye.skin + (joins - eye.skin) * kept
            down = _smoothstep((yy - start) / (0.6 * h))[..., None]
            shade = 0.72 + 0.22 * _smoothstep((edge - yy) / (0.5 * h))[..., None]
            lid = (joins + (eye.skin - joins) * down) * shade
            out[y0:y1, x0:x1] = np.clip(roi + (lid - roi) * alpha, 0, 255).astype(np.uint8)

"""The 2D talking head: a portrait warped by the viseme curves, with no learned weights.

Each frame is one ``cv2.remap`` of the portrait. The sampling map is the output grid moved by a
slow head sway and breathing (a global affine), minus a sum of smooth displacement fields built
once from the landmarks: jaw drop (lower lip and chin), mouth width (corners), lip closure, lip
rounding. Each field is scaled per frame by a curve value, so a frame costs a few multiply-adds over
the image plus the remap. Where the jaw opens, a mouth interior (dark cavity with a row of upper
teeth) is drawn inside the displaced inner-lip contour; for a blink, lids of the person's skin
(parley.face.lids). Between words the face lives (parley.face.idle): the eyes' contents shift
inside their openings for saccades, the head nods while the caller speaks, the mouth smiles a greeting.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from parley.config.avatar import Avatar
from parley.core.mood import Mood
from parley.core.speech import SpokenChunk, VisemeTrack
from parley.face.avatars import AvatarError
from parley.face.idle import Idle
from parley.face.lids import Eyelids
from parley.face.video import frames_on_clock


def _gauss(d2: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-d2 / (2.0 * sigma * sigma)).astype(np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return (x * x * (3 - 2 * x)).astype(np.float32)


def _aperture(fx: np.ndarray, fy: np.ndarray, outer, inner, top, bottom) -> np.ndarray:
    """1 inside an eye's opening (an almond through its corners, top and bottom), fading to 0 at the
    lids, so what moves inside it (iris, pupil, whites) never drags the lids along."""
    span = inner[0] - outer[0]
    u = (fx - outer[0]) / (span if abs(span) > 1 else 1.0)
    arch = 2 * np.sqrt(np.clip(u * (1 - u), 0.0, None))
    corners = outer[1] + u * (inner[1] - outer[1])
    middle, h = (outer[1] + inner[1]) / 2, max(bottom[1] - top[1], 2.0)
    feather = 0.25 * h
    upper = corners - (middle - top[1]) * arch
    lower = corners + (bottom[1] - middle) * arch
    return _smoothstep((fy - upper) / feather) * _smoothstep((lower - fy) / feather)


class WarpFace:
    """The ``Face`` of a portrait avatar: the photo warped by the viseme curves."""

    def __init__(self, avatar: Avatar, fps: float = 30.0, seed: int = 0) -> None:
        bgr = cv2.imread(str(avatar.image_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise AvatarError(f"{avatar.image_path}: not an image OpenCV can read (avatar {avatar.name!r}); "
                              "use a PNG or JPEG portrait, or run `parley avatar init PHOTO` again")
        self.image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self.avatar = avatar
        self.fps = fps
        self.size = n = avatar.size
        x0, y0, crop = avatar.crop
        self._scale = crop / n  # image pixels per output pixel
        self._origin = np.array([x0, y0], np.float64)
        lm = avatar.landmarks
        P = {k: self.to_output(v) for k, v in lm.points.items()}
        self._inner_upper = np.array([self.to_output(p) for p in lm.inner_lip_upper])
        self._inner_lower = np.array([self.to_output(p) for p in lm.inner_lip_lower])

        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        self._grid = (xx, yy)
        self._centre = np.array([n / 2, n / 2], np.float32)
        mouth_c = (P["upper_lip_inner"] + P["lower_lip_inner"]) / 2
        self._mouth_w = float(np.linalg.norm(P["mouth_right"] - P["mouth_left"]))
        self._lip_to_chin = float(P["chin"][1] - mouth_c[1])
        self._rest_gap = float(max(P["lower_lip_inner"][1] - P["upper_lip_inner"][1], 0.0))
        w, s = self._mouth_w, self._lip_to_chin
        dx = xx - mouth_c[0]

        # Jaw: everything below the cut, across the jaw's width, moves down; the neck less. The cut
        # runs along the middle of the lips' opening: when the photo's mouth is open, the teeth above
        # it stay with the skull and those below go with the jaw. Inside the mouth it is sharp, so the
        # only stretch is in the gap, which the cavity covers; beyond the corners it softens into the
        # cheeks, which bend rather than tear.
        self._mid = (self._inner_upper + self._inner_lower) / 2
        self._photo_open = self._rest_gap > 0.1 * self._mouth_w
        order = np.argsort(self._mid[:, 0])
        cut_y = np.interp(xx, self._mid[order, 0], self._mid[order, 1]).astype(np.float32)
        sharp, soft = 1.5, self._rest_gap / 2 + 0.07 * s
        width = sharp + (soft - sharp) * _smoothstep((np.abs(dx) - 0.3 * w) / (0.2 * w))
        below = _smoothstep((yy - cut_y + width / 2 + 0.5) / width)
        neck = 1.0 - _smoothstep((yy - P["chin"][1]) / (0.6 * s))
        across = _gauss(dx * dx, 0.75 * w)
        self._w_jaw = below * np.maximum(neck, 0.0) * across
        # Corners: horizontally, away from (or towards) the mouth centre.
        corner = np.zeros_like(xx)
        for name, sign in (("mouth_left", -1.0), ("mouth_right", 1.0)):
            d2 = (xx - P[name][0]) ** 2 + (yy - P[name][1]) ** 2
            corner += sign * _gauss(d2, 0.28 * w)
        self._w_corner = corner
        # Lips: the upper and the lower lip, for closing the mouth and rounding it.
        upper_y = (P["upper_lip_top"][1] + P["upper_lip_inner"][1]) / 2
        lower_y = (P["lower_lip_inner"][1] + P["lower_lip_bottom"][1]) / 2
        self._w_upper = _gauss((xx - mouth_c[0]) ** 2 / 2.2 + (yy - upper_y) ** 2, 0.2 * w)
        self._w_lower = _gauss((xx - mouth_c[0]) ** 2 / 2.2 + (yy - lower_y) ** 2, 0.2 * w)
        # Eyelids for blinks, of the skin in the unmoved face.
        rest = cv2.remap(self.image, (self._origin[0] + xx * self._scale).astype(np.float32),
                         (self._origin[1] + yy * self._scale).astype(np.float32), cv2.INTER_LINEAR)
        self._lids = Eyelids(P, rest)
        # Each eye's corners, top and bottom, and the box it can be seen in wherever the head moves.
        self._eyes = [tuple(P[f"{side}_eye_{k}"] for k in ("outer", "inner", "top", "bottom"))
                      for side in ("left", "right")]
        self._eye_boxes = []
        for outer, inner, top, bottom in self._eyes:
            pad = 0.03 * n  # the head's sway, nod and breath move an eye by less
            box = [min(outer[1], inner[1], top[1]) - pad, max(outer[1], inner[1], bottom[1]) + pad,
                   min(outer[0], inner[0]) - pad, max(outer[0], inner[0]) + pad]
            self._eye_boxes.append(tuple(int(v) for v in np.clip(box, 0, n)))
        # An iris travels about a tenth of the eye's width between a glance aside and the camera.
        self._gaze_px = 0.1 * float(np.mean([abs(e[1][0] - e[0][0]) for e in self._eyes]))

        self._jaw_drop = 0.42 * s  # pixels of chin travel at jawOpen = 1
        # Where the mouth's controls at their largest move a pixel by more than a twentieth of one:
        # outside it the frame is the head's affine warp alone.
        reach = (np.abs(self._w_jaw) * self._jaw_drop + np.abs(self._w_upper - self._w_lower) * self._rest_gap / 2
                 + 0.12 * w * np.abs(self._w_upper) + 0.25 * w * np.abs(self._w_corner))
        rows, cols = np.nonzero(reach > 0.05)
        self._moving = (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) if rows.size else (0, 1, 0, 1)
        cavity_roi = [int(mouth_c[0] - w), int(mouth_c[1] - 0.6 * w), int(mouth_c[0] + w), int(mouth_c[1] + 1.2 * w)]
        self._roi = np.clip(cavity_roi, 0, n)
        # Where the mouth can be, whatever it does: lips, the widest opening, a little sway.
        box = [mouth_c[0] - 0.6 * w, mouth_c[1] - 0.25 * w, mouth_c[0] + 0.6 * w, mouth_c[1] + 0.5 * s]
        self.mouth_box = tuple(int(v) for v in np.clip(box, 0, n))
        self.idle = Idle(seed)

    def to_output(self, point) -> np.ndarray:
        """Image pixels → this renderer's output pixels (before head motion)."""
        return (np.asarray(point, np.float64) - self._origin) / self._scale

    @staticmethod
    def _curve(track: VisemeTrack | None, name: str, t: float) -> float:
        if track is None:
            return 0.0
        values = track.curves.get(name)
        if not values:
            return 0.0
        i = int(round(t * track.fps))
        return float(values[i]) if 0 <= i < len(values) else 0.0

    def _head_affine(self, t: float, nod: float = 0.0) -> np.ndarray:
        """Output → face coordinates: a slow sway, nod and breath, so the face is never still, and
        ``nod`` (0 to 1) of a listener's nod."""
        angle = 0.9 * np.sin(2 * np.pi * 0.11 * t) + 0.4 * np.sin(2 * np.pi * 0.27 * t + 1.3)
        tx = 2.0 * np.sin(2 * np.pi * 0.07 * t + 0.5)
        ty = 1.5 * np.sin(2 * np.pi * 0.17 * t) + 1.0 * np.sin(2 * np.pi * 0.25 * t)  # nod + breath
        ty += 0.012 * self.size * nod
        scale = 1.0 + 0.004 * np.sin(2 * np.pi * 0.25 * t)
        m = cv2.getRotationMatrix2D((float(self._centre[0]), float(self._centre[1] * 1.3)), angle, scale)
        m[:, 2] += (tx, ty)
        return cv2.invertAffineTransform(m)

    def mouth_controls(self, t: float, track: VisemeTrack | None, smile: float = 0.0) -> dict[str, float]:
        """The mouth's controls from the visemes at ``t``, with ``smile`` (the greeting's) under them."""
        c = lambda name: self._curve(track, name, t)  # noqa: E731
        return {
            "jaw": c("jawOpen"),
            "width": 0.22 * max(c("mouthSmile"), smile) - 0.3 * c("mouthPucker") - 0.18 * c("mouthFunnel"),
            "lift": smile * (1.0 - min(1.0, 2.0 * c("jawOpen"))),  # the corners go up in a smile at rest
            "close": min(1.0, c("mouthClose") / 0.6),
            "round": c("mouthFunnel") + 0.5 * c("mouthPucker"),
        }

    def frames(self, chunk: SpokenChunk) -> Iterator[np.ndarray]:
        return (frame for _, frame in frames_on_clock(self, chunk))

    def frame(self, t: float, chunk: SpokenChunk | None = None, chunk_t: float | None = None,
              mood: Mood | None = None) -> np.ndarray:
        """The face at time ``t`` (head motion, blinks, gaze; a nod or a smile as ``mood`` has it);
        the mouth saying ``chunk`` at ``chunk_t`` (default ``t``), so a live session can keep one
        clock for life and one per chunk."""
        track = chunk.visemes if chunk is not None else None
        k = self.mouth_controls(t if chunk_t is None else chunk_t, track, self.idle.smile(t, mood))
        a = self._head_affine(t, self.idle.nod(t, mood))
        # The head's motion alone is one affine map of the photo: drawn whole, cheaply. The mouth's
        # bending and the eyes' gaze are redrawn only where they can move anything.
        to_image = a * self._scale
        to_image[:, 2] += self._origin
        out = cv2.warpAffine(self.image, to_image, (self.size, self.size),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
        jaw_px = k["jaw"] * self._jaw_drop
        close_px = k["close"] * self._rest_gap / 2
        if jaw_px or close_px or k["round"] or k["width"] or k["lift"]:
            box = self._moving
            y0, y1, x0, x1 = box
            w_jaw, w_upper, w_lower, w_corner = (w[y0:y1, x0:x1] for w in
                                                 (self._w_jaw, self._w_upper, self._w_lower, self._w_corner))
            dy = (jaw_px * w_jaw + close_px * (w_upper - w_lower) - 0.08 * self._mouth_w * k["round"] * w_upper
                  - 0.05 * self._mouth_w * k["lift"] * np.abs(w_corner))
            dx = 0.5 * k["width"] * self._mouth_w * w_corner
            self._redraw(out, a, box, lambda fx, fy: (dx, dy))
            if jaw_px > 0.02 * self._mouth_w:
                self._draw_mouth(out, a, jaw_px, dx, dy)
        across, up = self.idle.gaze(t) * self._gaze_px
        for eye, box in zip(self._eyes, self._eye_boxes):
            def shift(fx, fy, eye=eye):
                inside = _aperture(fx, fy, *eye)
                return across * inside, -up * inside
            self._redraw(out, a, box, shift)
        blink = self.idle.blink(t)
        if blink > 0:
            self._lids.draw(out, cv2.invertAffineTransform(a), blink)
        return out

    def _redraw(self, out: np.ndarray, affine: np.ndarray, box, moves) -> None:
        """Redraws ``box`` (output pixels: y0, y1, x0, x1) of ``out`` with the photo's points moved by
        ``moves(fx, fy) → (dx, dy)``, given where each output pixel is in the face (fx, fy)."""
        y0, y1, x0, x1 = box
        xx, yy = (g[y0:y1, x0:x1] for g in self._grid)
        fx = affine[0, 0] * xx + affine[0, 1] * yy + affine[0, 2]
        fy = affine[1, 0] * xx + affine[1, 1] * yy + affine[1, 2]
        dx, dy = moves(fx, fy)
        map_x = (self._origin[0] + (fx - dx) * self._scale).astype(np.float32)
        map_y = (self._origin[1] + (fy - dy) * self._scale).astype(np.float32)
        out[y0:y1, x0:x1] = cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def _draw_mouth(self, out: np.ndarray, affine: np.ndarray, jaw_px: float, dx: np.ndarray, dy: np.ndarray) -> None:
        """The gap the jaw opened: a cavity, darker towards the back and shadowed under the lips, and,
        when the photo's mouth was closed, upper teeth of a natural shade (an open photo's own teeth
        are already there, moved by the warp: the upper with the skull, the lower with the jaw)."""
        forward = cv2.invertAffineTransform(affine)  # face → output coordinates

        my0, _, mx0, _ = self._moving  # dx, dy cover only where the mouth moves anything

        def moved(points: np.ndarray, below: float) -> np.ndarray:
            probe = points + (0, below)  # which side of the cut the boundary takes its motion from
            ix = np.clip(probe[:, 0].astype(int) - mx0, 0, dx.shape[1] - 1)
            iy = np.clip(probe[:, 1].astype(int) - my0, 0, dx.shape[0] - 1)
            face = points + np.stack([dx[iy, ix], dy[iy, ix]], axis=1)
            return face @ forward[:, :2].T + forward[:, 2]

        top_edge = self._mid if self._photo_open else self._inner_upper
        bottom_edge = self._mid if self._photo_open else self._inner_lower
        upper, lower = moved(top_edge, -2.0), moved(bottom_edge, 2.0)
        x0, y0, x1, y1 = self._roi
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.concatenate([upper, lower[::-1]]).astype(np.int32) - (x0, y0)], 255,
                     lineType=cv2.LINE_AA)
        if not mask.any():
            return
        # Darker the deeper in: distance from the lips, relative to the opening's half height.
        depth = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 3)
        depth = np.clip(depth / max(0.4 * jaw_px, 1.0), 0, 1)[..., None]
        lip_edge, back = np.array([118, 48, 52], np.float32), np.array([34, 10, 13], np.float32)
        cavity = lip_edge + (back - lip_edge) * depth
        # The tongue shows in the lower part of a wide-open mouth.
        yy = np.arange(mask.shape[0], dtype=np.float32)[:, None, None] + y0
        top_y, bottom_y = upper[:, 1].mean(), lower[:, 1].mean()
        tongue = np.clip((yy - (top_y + bottom_y) / 2) / max(bottom_y - top_y, 1.0) * 2, 0, 1)
        tongue *= float(np.clip((jaw_px - 0.15 * self._mouth_w) / (0.2 * self._mouth_w), 0, 1)) * 0.6
        cavity = cavity + (np.array([150, 66, 72], np.float32) - cavity) * tongue
        alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[..., None] / 255.0
        roi = out[y0:y1, x0:x1].astype(np.float32)
        roi = roi * (1 - alpha) + cavity * alpha
        if not self._photo_open:
            roi = self._draw_teeth(roi, upper - (x0, y0), alpha, jaw_px)
        out[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)

    def _draw_teeth(self, roi: np.ndarray, lip: np.ndarray, inside: np.ndarray, jaw_px: float) -> np.ndarray:
        """Upper teeth under the upper lip: lighter at the biting edge, in the lip's shadow above,
        with the faint gaps between teeth."""
        height = min(0.3 * jaw_px, 0.11 * self._mouth_w) + 1
        band = np.zeros(roi.shape[:2], np.uint8)
        cv2.fillPoly(band, [np.concatenate([lip, lip[::-1] + (0, height)]).astype(np.int32)], 255, cv2.LINE_AA)
        yy, xx = np.mgrid[0 : roi.shape[0], 0 : roi.shape[1]].astype(np.float32)
        order = np.argsort(lip[:, 0])
        lip_y = np.interp(xx, lip[order, 0], lip[order, 1])
        down = np.clip((yy - lip_y) / height, 0, 1)
        centre = lip[:, 0].mean()
        gaps = 1 - 0.12 * np.exp(-((np.mod(xx - centre, self._mouth_w / 8) - self._mouth_w / 16) / 0.8) ** 2)
        shade = (0.72 + 0.28 * down) * gaps
        colour = np.array([228, 222, 208], np.float32) * shade[..., None]
        alpha = cv2.GaussianBlur(band, (3, 3), 0).astype(np.float32)[..., None] / 255.0 * inside
        return roi * (1 - alpha) + colour * alpha

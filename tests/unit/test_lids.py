"""The 2D face's eyelids (parley/face/lids.py) on a drawn face: lids of the skin above the eye, closing
from the top, with soft edges and no line drawn."""

import cv2
import numpy as np
import pytest

from parley.face.lids import Eyelids

LID_SKIN, CHEEK = np.array([205, 150, 120]), np.array([150, 95, 80])
EYES = {"left": (55, 60), "right": (105, 60)}  # centres; each eye 30 px wide and 12 px open
NOWHERE = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # the face has not moved


@pytest.fixture(scope="module")
def face():
    image = np.zeros((120, 160, 3), np.uint8)
    image[:] = LID_SKIN
    image[70:] = CHEEK  # the skin below the eyes is not what a lid is made of
    points, opening = {}, np.zeros(image.shape[:2], np.uint8)
    for side, (x, y) in EYES.items():
        outer, inner = (x - 15, x + 15) if side == "left" else (x + 15, x - 15)
        points.update({f"{side}_eye_outer": (outer, y), f"{side}_eye_inner": (inner, y),
                       f"{side}_eye_top": (x, y - 6), f"{side}_eye_bottom": (x, y + 6)})
        cv2.ellipse(opening, (x, y), (15, 6), 0, 0, 360, 255, -1)
        cv2.ellipse(image, (x, y), (15, 6), 0, 0, 360, (240, 240, 235), -1)
        cv2.circle(image, (x, y), 5, (40, 30, 30), -1)
    return image, {k: np.array(v, np.float64) for k, v in points.items()}, opening > 0


def lid_like(pixels):
    """Whether pixels are the lid's skin, in light or in the shade of its edge: one hue, at most a little darker."""
    ratio = pixels / LID_SKIN
    return ratio.min() >= 0.7 and ratio.max() <= 1.01 and np.ptp(ratio, axis=-1).max() < 0.03


def closed(face, closure):
    image, points, _ = face
    out = image.copy()
    Eyelids(points, image).draw(out, NOWHERE, closure)
    return out


def test_a_shut_lid_is_the_skin_above_the_eye(face):
    _, _, opening = face
    assert lid_like(closed(face, 1.0)[opening])


def test_the_lid_closes_from_the_top(face):
    image, _, _ = face
    half = closed(face, 0.5).astype(int)
    for x, y in EYES.values():
        assert lid_like(half[y - 4, x - 8 : x + 8])  # the upper half of the eye is covered
        assert (half[y + 3 : y + 6, x] == image[y + 3 : y + 6, x]).all()  # the lower half still shows


def test_the_lid_edge_is_soft_and_nothing_is_outlined(face):
    image, _, _ = face
    half = closed(face, 0.5).astype(int)
    low, high = np.minimum(image, 0.7 * LID_SKIN), np.maximum(image, LID_SKIN)
    assert ((half >= low - 1) & (half <= high + 1)).all()  # every pixel between the photo and the lid
    x, y = EYES["left"]
    column = np.array([not lid_like(p) for p in half[y - 6 : y + 6, x]])
    between = column & (np.abs(half[y - 6 : y + 6, x] - image[y - 6 : y + 6, x]).max(axis=1) > 3)
    assert between.sum() >= 2  # the edge blends over pixels of its own, not a cut

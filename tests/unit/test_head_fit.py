"""The base head bent to a photo's landmarks (parley/face/make/fit.py), on a synthetic landmark set."""

import numpy as np

from parley.face.make.fit import DEPTH_TRUST, LandmarkFit, similarity


def rotation_y(degrees):
    a = np.radians(degrees)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def face_points(n=300, seed=0):
    """Points on the front of a face-sized ellipsoid (metres): a stand-in for the base's landmarks."""
    rng = np.random.default_rng(seed)
    theta, phi = rng.uniform(-1.1, 1.1, n), rng.uniform(-1.0, 1.0, n)
    return np.stack([0.07 * np.sin(theta) * np.cos(phi), 0.7 + 0.1 * np.sin(phi),
                     0.1 + 0.06 * np.cos(theta) * np.cos(phi)], axis=1)


def photo_of(points, scale=640.0, degrees=8.0, shift=(300.0, -400.0, 20.0)):
    return scale * points @ rotation_y(degrees).T + np.array(shift)


def test_similarity_recovers_a_known_pose():
    src = face_points()
    scale, rotation, shift = similarity(src, photo_of(src))
    assert np.isclose(scale, 640.0) and np.allclose(rotation, rotation_y(8.0)) and np.allclose(shift, [300, -400, 20])


def test_a_wider_face_with_a_fuller_cheek_is_matched_where_the_photo_sees_it():
    src = face_points()
    bent = src.copy()
    bent[:, 0] = src[:, 0] * 1.08  # wider
    cheek = np.exp(-((src[:, 0] - 0.04) ** 2 + (src[:, 1] - 0.68) ** 2) / (2 * 0.015**2))
    bent[:, 0] += 0.006 * cheek  # and one cheek fuller
    dst = photo_of(bent)
    fit = LandmarkFit(src, dst)
    assert np.isclose(fit.stretch[0] / fit.stretch[1], 1.08, atol=0.02)  # the scale takes the rest; the cheek a little
    seen = fit.to_photo(fit.apply(src))
    error_m = np.abs(seen - dst)[:, :2] / 640.0
    assert error_m.max() < 0.001  # within a millimetre in the photo's plane
    unfitted = np.abs(photo_of(src) - dst)[:, :2].max() / 640.0
    assert unfitted > 0.005  # the bend was there to be found


def test_points_far_from_the_face_only_stretch_and_the_head_keeps_looking_ahead():
    src = face_points()
    fit = LandmarkFit(src, photo_of(src * [1.05, 1.0, 1.0]))
    far = np.array([[0.0, 0.2, -0.3], [0.2, 0.5, -0.1]])  # the shoulders, the back of the head
    assert np.allclose(fit.apply(far), fit.centre + (far - fit.centre) * fit.stretch, atol=1e-6)
    assert np.allclose(fit.rotation, rotation_y(8.0), atol=5e-3)  # the pose is the camera's, not the head's


def test_depth_is_only_partly_believed_and_shapes_stretch_with_the_head():
    src = face_points()
    nose = np.exp(-((src[:, 0]) ** 2 + (src[:, 1] - 0.7) ** 2) / (2 * 0.01**2))
    deeper = src + np.c_[0 * nose, 0 * nose, 0.01 * nose]
    fit = LandmarkFit(src, photo_of(deeper, degrees=0.0))
    moved = fit.apply(src)[:, 2] - src[:, 2]
    tip = np.argmax(nose)
    assert 0.5 * DEPTH_TRUST * 0.01 < moved[tip] < 1.5 * DEPTH_TRUST * 0.01
    _, shapes = fit.apply(src, {"jawOpen": np.ones_like(src)})
    assert np.allclose(shapes["jawOpen"], fit.stretch)

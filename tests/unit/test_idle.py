"""The 2D face between words: saccades, blinks, a listener's nods and the greeting's smile, all a
function of the face's clock and its mood."""

import cv2
import numpy as np
import pytest

from parley.core.events import FaceChanged, SpeechEnded, SpeechStarted
from parley.core.mood import Mood
from parley.face.avatars import load_avatar
from parley.face.idle import NOD_S, Idle
from parley.face.warp import WarpFace

LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def face():
    return WarpFace(load_avatar("portrait"), fps=30)


def in_face(face, frame, t):
    """The frame moved back to where the face is at rest (undoing the head's sway, nod and breath)."""
    forward = cv2.invertAffineTransform(face._head_affine(t))
    return cv2.warpAffine(frame, forward, (face.size, face.size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def iris_shift(face, t0, t1, eye):
    """How far the inside of the eye moved across from ``t0`` to ``t1``, in pixels: the shift that
    best lays the brightness along the eye's middle at ``t0`` onto the one at ``t1``."""
    outer, inner, top, bottom = face._eyes[eye]
    x0, x1 = int(min(outer[0], inner[0])), int(max(outer[0], inner[0]))
    y = int((top[1] + bottom[1]) / 2)
    a, b = ((in_face(face, face.frame(t), t)[y - 2 : y + 3, x0:x1] @ LUMA).mean(axis=0) for t in (t0, t1))
    x = np.arange(len(a))
    error = lambda d: np.mean((np.interp(x - d, x, a) - b)[8:-8] ** 2)  # noqa: E731
    return min(np.arange(-6.0, 6.01, 0.1), key=error)


def fixations(idle):
    """The middle of each of the first fixations, away from blinks, with where the eyes look then."""
    out = []
    for start, end in zip(idle._saccades[:20], idle._saccades[1:21]):
        t = (start + end) / 2
        if all(idle.blink(t + d) == 0 for d in (-0.3, 0.0, 0.3)):
            out.append((t, idle.gaze(t)))
    return out


def test_the_schedule_is_the_same_for_the_same_seed_and_differs_for_another():
    a, b, c = Idle(3), Idle(3), Idle(4)
    times = np.arange(0, 30, 0.1)
    assert [tuple(a.gaze(t)) for t in times] == [tuple(b.gaze(t)) for t in times]
    assert [a.blink(t) for t in times] == [b.blink(t) for t in times]
    assert [tuple(a.gaze(t)) for t in times] != [tuple(c.gaze(t)) for t in times]


def test_eyes_hold_still_between_saccades_then_jump_quickly():
    idle = Idle(0)
    gaps = np.diff(idle._saccades[:200])
    assert gaps.min() >= 1.0 and gaps.max() <= 3.0
    start, end = idle._saccades[4], idle._saccades[5]
    held = [idle.gaze(t) for t in np.linspace(start + 0.05, end - 0.01, 20)]
    assert np.ptp(held, axis=0).max() == 0
    assert np.allclose(idle.gaze(start + 0.05), idle._targets[5])  # there within 50 ms
    # Mostly at the camera: most fixations within a third of the widest glance.
    assert np.mean(np.abs(idle._targets[:200, 0]) < 0.34) > 0.55


def test_the_iris_moves_a_few_pixels_between_fixations_and_not_within_one(face):
    seen = fixations(face.idle)
    t0, g0 = seen[0]
    moved = []
    for t, g in seen[1:]:
        expected = (g - g0)[0] * face._gaze_px
        for eye in (0, 1):
            moved.append(iris_shift(face, t0, t, eye))
            assert moved[-1] == pytest.approx(expected, abs=0.7)
        assert abs(iris_shift(face, t, t + 0.3, 0)) < 0.2
    assert max(np.abs(moved)) > 2.0


def test_blinks_close_the_lids_at_their_times():
    idle = Idle(0)
    first = idle.blink_times[0]
    assert idle.blink(first) == 1.0 and idle.blink(first - 0.1) == 0 and idle.blink(first + 0.1) == 0
    assert np.all(np.diff(idle.blink_times[:50]) >= 2.5)


def test_the_head_nods_now_and_then_only_while_the_caller_speaks(face):
    idle = face.idle
    listening = Mood(listening_since=10.0)
    peak = 10.0 + idle._nods[0] + NOD_S / 2
    assert idle.nod(peak, listening) == pytest.approx(1.0)
    assert idle.nod(peak, Mood()) == 0 and idle.nod(peak, None) == 0
    nodding = [idle.nod(t, listening) for t in np.arange(10.0, 40.0, 1 / 30)]
    assert 0.1 < np.mean(np.array(nodding) > 0) < 0.5  # now and then, not all the time
    # The whole face goes down by a few pixels at the nod's lowest point, and nothing else changes.
    still, nod = face.frame(peak), face.frame(peak, mood=listening)
    y0, y1, x0, x1 = 100, 420, 120, 400
    (dx, dy), _ = cv2.phaseCorrelate(*(f[y0:y1, x0:x1] @ LUMA for f in (still, nod)))
    assert abs(dx) < 0.5 and 4.0 < dy < 8.0
    assert np.array_equal(face.frame(peak, mood=Mood()), still)


def test_the_greeting_smiles_then_the_smile_goes(face):
    greeted = Mood(greeted_at=5.0)
    x0, y0, x1, y1 = face.mouth_box
    diff = lambda a, b: np.abs(a[y0:y1, x0:x1].astype(int) - b[y0:y1, x0:x1].astype(int)).mean()  # noqa: E731
    assert diff(face.frame(6.0), face.frame(6.0, mood=greeted)) > 1.0
    assert np.array_equal(face.frame(9.0), face.frame(9.0, mood=greeted))
    assert face.idle.smile(4.9, greeted) == 0 and face.idle.smile(6.0, greeted) == 1.0


def test_the_mood_follows_the_calls_events():
    mood = Mood().after(FaceChanged("warp2d", "start"), 1.0)
    assert mood == Mood(greeted_at=1.0)
    mood = mood.after(SpeechStarted(start=3.0, at=3.2), 4.0)
    assert mood.listening_since == 4.0
    assert mood.after(SpeechStarted(start=5.0, at=5.2), 6.0).listening_since == 4.0  # still the same speech
    assert mood.after(SpeechEnded(start=3.0, end=6.0, at=6.5), 7.0) == Mood(greeted_at=1.0)
    assert mood.after(FaceChanged("browser3d", "late"), 8.0) == mood


def test_the_live_video_track_draws_the_face_in_the_calls_mood(face):
    import asyncio

    from parley.live.media import AvatarVideoTrack, MediaClock

    async def run():
        track = AvatarVideoTrack(MediaClock(), face)
        track.observe(SpeechStarted(start=0.0, at=0.2))
        since = track.mood.listening_since
        track.mood = Mood(listening_since=10.0)
        peak = 10.0 + face.idle._nods[0] + NOD_S / 2
        frame, _ = track._render(peak, None, None)
        return since, frame.to_ndarray(format="rgb24")

    since, drawn = asyncio.run(run())
    assert since is not None and 0 <= since < 5
    peak = 10.0 + face.idle._nods[0] + NOD_S / 2
    nodding, still = face.frame(peak, mood=Mood(listening_since=10.0)), face.frame(peak)
    # The frame went through YUV 4:2:0: compare it with each, not for equality.
    assert np.abs(drawn.astype(int) - nodding).mean() < np.abs(drawn.astype(int) - still).mean() / 2

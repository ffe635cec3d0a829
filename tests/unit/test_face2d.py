"""The portrait renderer and the frame clock, on the shipped reference portrait."""

import numpy as np
import pytest

from parley.config import ConfigError
from parley.core.speech import SpeechSegment, SpokenChunk, VisemeTrack
from parley.face.avatars import load_avatar
from parley.face.video import frame_count, frames_on_clock
from parley.face.warp import WarpFace


@pytest.fixture(scope="module")
def renderer():
    return WarpFace(load_avatar("portrait"), fps=30)


def still(n=30, **curves):
    """A chunk of silence whose mouth holds ``curves`` for ``n`` frames."""
    track = VisemeTrack(fps=30, duration=n / 30, spans=[], curves={k: [v] * n for k, v in curves.items()})
    return SpokenChunk(SpeechSegment("", np.zeros(n * 16000 // 30, np.float32), 16000, []), track)


def mouth_openness(renderer, frame, t):
    """How much darker the mouth area is than the resting face at the same time (same sway)."""
    x0, y0, x1, y1 = renderer.mouth_box
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    luma = frame[y0:y1, x0:x1].astype(np.float32) @ weights
    rest = renderer.frame(t)[y0:y1, x0:x1].astype(np.float32) @ weights
    return float(np.clip(rest - luma, 0, None).mean())


def test_frames_are_rgb_at_the_avatar_size(renderer):
    frame = renderer.frame(0.0)
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8


def test_jaw_opening_opens_the_mouth_monotonically(renderer):
    openness = [mouth_openness(renderer, renderer.frame(0.5, still(jawOpen=j)), 0.5) for j in (0.0, 0.2, 0.4, 0.7)]
    assert openness[0] == 0 and openness == sorted(openness) and openness[-1] > 10


def test_width_follows_smile_and_pucker(renderer):
    rest = renderer.frame(0.5)
    smile = renderer.frame(0.5, still(mouthSmile=0.6))
    pucker = renderer.frame(0.5, still(mouthPucker=0.9))
    x0, y0, x1, y1 = renderer.mouth_box
    diff = lambda a, b: np.abs(a[y0:y1, x0:x1].astype(int) - b[y0:y1, x0:x1].astype(int)).mean()  # noqa: E731
    assert diff(rest, smile) > 1.0 and diff(rest, pucker) > 1.0


def test_the_face_is_never_frozen_and_blinks(renderer):
    a, b = renderer.frame(1.0), renderer.frame(2.0)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 0.5  # head sway and breathing
    blink = renderer.idle.blink_times[0]
    top, bottom = (renderer.to_output(renderer.avatar.landmarks.p(f"left_eye_{k}")).astype(int)
                   for k in ("top", "bottom"))
    eye = lambda f: f[top[1] : bottom[1], top[0] - 8 : top[0] + 8].astype(int)  # noqa: E731
    assert np.abs(eye(renderer.frame(blink)) - eye(renderer.frame(blink - 0.3))).mean() > 10


def test_late_frames_are_skipped_never_queued(renderer):
    class SlowRenderer:
        """Takes 1.6 frame durations per frame on a simulated clock."""

        fps = 30
        now = 0.0

        def frame(self, t, chunk=None, chunk_t=None):
            self.now += 1.6 / self.fps
            return renderer.frame(t, chunk, chunk_t)

    slow = SlowRenderer()
    chunk = still(n=30)
    skipped = []
    shown = [i for i, _ in frames_on_clock(slow, chunk, lambda: slow.now, skipped)]
    assert shown and skipped and sorted(shown + skipped) == list(range(frame_count(chunk.speech.duration, 30)))
    assert 0.5 < len(shown) / 30 < 0.75  # about one frame in 1.6 is shown, each on its own time


def test_unknown_avatar_and_broken_yaml(tmp_path):
    with pytest.raises(ConfigError, match="unknown avatar 'ghost'; known: head3d, portrait"):
        load_avatar("ghost")
    import yaml

    from parley.config.avatar import REPO_AVATARS

    data = yaml.safe_load((REPO_AVATARS / "portrait" / "avatar.yaml").read_text())
    del data["landmarks"]["points"]["chin"]
    path = tmp_path / "avatar.yaml"
    path.write_text(yaml.safe_dump(data))
    (tmp_path / "portrait.png").write_bytes((REPO_AVATARS / "portrait" / "portrait.png").read_bytes())
    with pytest.raises(ConfigError, match="landmarks.points.*chin"):
        load_avatar(str(path))

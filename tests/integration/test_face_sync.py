"""The talking portrait on real speech: the mouth moves with the sound, in the MP4 too."""

import subprocess
import sys
import wave

import av
import numpy as np
import pytest

from parley.config.avatar import REPO_AVATARS
from parley.core.speech import PhonemeTiming, SpeechSegment, SpokenChunk
from parley.face.avatars import AvatarError, load_avatar
from parley.face.make.photo import check_face
from parley.face.video import frames_on_clock, write_mp4
from parley.face.warp import WarpFace
from parley.speak.files import join_speech
from tests.unit.test_face2d import mouth_openness

FPS = 30


def padded_speech(tts, text, pad=0.6):
    seg = tts.synthesize(text)
    quiet = SpeechSegment("", np.zeros(int(pad * seg.sample_rate), np.float32), seg.sample_rate,
                          [PhonemeTiming(" ", 0.0, pad)])
    return join_speech([quiet, seg, quiet])


def envelope(audio, rate, n_frames):
    hop = rate / FPS
    return np.array([np.sqrt(np.mean(audio[int(i * hop) : int((i + 1) * hop)] ** 2) + 1e-12) for i in range(n_frames)])


def best_lag(a, b, max_lag=5):
    a, b = (a - a.mean()) / a.std(), (b - b.mean()) / b.std()
    scores = {}
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[: len(b) - lag]) if lag >= 0 else (a[:lag], b[-lag:])
        scores[lag] = float(np.mean(x * y))
    lag = max(scores, key=scores.get)
    return lag, scores[lag]


@pytest.fixture(scope="module")
def rendered(engines, tmp_path_factory):
    speech = padded_speech(engines.tts, "Hello there! Where is the library? It opens at eight, and closes at ten.")
    chunk = SpokenChunk(speech, engines.visemes.track(speech))
    renderer = WarpFace(load_avatar("portrait"), fps=FPS)
    path = tmp_path_factory.mktemp("video") / "video.mp4"
    write_mp4(path, (f for _, f in frames_on_clock(renderer, chunk)), FPS, speech.audio, speech.sample_rate)
    return speech, renderer, path


def decode(path):
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
        rate = c.streams.audio[0].rate
    return frames, audio, rate


def test_mp4_has_h264_and_aac_on_one_clock(rendered):
    speech, _, path = rendered
    with av.open(str(path)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        assert float(video.average_rate) == FPS and (video.width, video.height) == (512, 512)
        v_dur, a_dur = float(video.duration * video.time_base), float(audio.duration * audio.time_base)
    assert abs(v_dur - speech.duration) <= 1.5 / FPS and abs(a_dur - speech.duration) < 0.05


def test_mouth_follows_the_audio_within_one_frame(rendered):
    speech, renderer, path = rendered
    frames, audio, rate = decode(path)
    openness = np.array([mouth_openness(renderer, f, i / FPS) for i, f in enumerate(frames)])
    env = envelope(audio, rate, len(frames))
    lag, corr = best_lag(openness, env)
    assert abs(lag) <= 1 and corr > 0.4, (lag, corr)


def test_silence_keeps_the_mouth_closed(rendered):
    speech, renderer, path = rendered
    frames, _, _ = decode(path)
    lead = int(0.6 * FPS) - 2  # the last frames before speech may already anticipate the first sound
    openness = [mouth_openness(renderer, frames[i], i / FPS) for i in range(lead)]
    tail = [mouth_openness(renderer, frames[-i], (len(frames) - i) / FPS) for i in range(1, lead)]
    speaking = [mouth_openness(renderer, f, i / FPS) for i, f in enumerate(frames) if lead + 4 < i < len(frames) - lead - 4]
    assert max(openness + tail) < 2.0 < np.percentile(speaking, 75)


def test_say_writes_video_with_the_portrait(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "parley.cli", "say", "Welcome to Northfield!", "--out", str(tmp_path),
                           "--avatar", "portrait"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "video.mp4").stat().st_size > 10_000 and (tmp_path / "speech.wav").is_file()


def run_init(*args):
    return subprocess.run([sys.executable, "-m", "parley.cli", "avatar", "init", *args], capture_output=True,
                          text=True, timeout=300)


def test_avatar_init_finds_the_same_face(tmp_path):
    proc = run_init(str(REPO_AVATARS / "portrait" / "portrait.png"), "--name", "copy", "--licence", "public domain",
                    "--voice", "hibari-heart", "--out-root", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    made, shipped = load_avatar(str(tmp_path / "copy" / "avatar.yaml")), load_avatar("portrait")
    assert made.voice == shipped.voice == "hibari-heart"
    for name, point in shipped.landmarks.points.items():
        assert np.allclose(made.landmarks.points[name], point, atol=1.0), name
    assert made.crop == shipped.crop


def test_a_photo_avatar_made_without_a_voice_speaks_on_the_shipped_stack(tmp_path):
    proc = run_init(str(REPO_AVATARS / "portrait" / "portrait.png"), "--name", "newcomer", "--licence", "x",
                    "--out-root", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "voice: piper-en_US-joe-medium (the avatar names none" in proc.stdout and "--voice VOICE" in proc.stdout
    for name in ("newcomer", "newcomer-3d"):
        avatar = tmp_path / name / "avatar.yaml"
        said = subprocess.run([sys.executable, "-m", "parley.cli", "say", "Hello there.", "--avatar", str(avatar),
                               "--out", str(tmp_path / f"{name}-out")], capture_output=True, text=True, timeout=300)
        assert said.returncode == 0, said.stderr
        with wave.open(str(tmp_path / f"{name}-out" / "speech.wav")) as wav:
            assert wav.getframerate() == 22050  # Piper's: the default voice, not the portrait's hibari-heart
            assert wav.getnframes() > 0.3 * wav.getframerate()


def test_avatar_init_refuses_images_without_a_face_and_non_images(tmp_path):
    import cv2

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((256, 256, 3), 180, np.uint8))
    proc = run_init(str(blank), "--name", "wall", "--licence", "x", "--out-root", str(tmp_path))
    assert proc.returncode == 2 and "no face found" in proc.stderr
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    proc = run_init(str(text), "--name", "notes", "--licence", "x", "--out-root", str(tmp_path))
    assert proc.returncode == 2 and "not an image" in proc.stderr


@pytest.mark.parametrize("photo, message", [
    ("two", "more than one face found; crop the photo to one person"),
    ("small", "pixels across, too small to animate (at least 96)"),
    ("huge", "megapixels, more than the 50 a portrait needs"),
])
def test_avatar_init_says_what_is_wrong_with_a_photo_and_writes_nothing(tmp_path, photo, message):
    import cv2

    face = cv2.imread(str(REPO_AVATARS / "portrait" / "portrait.png"))
    image = {"two": lambda: np.concatenate([face[20:300, 110:360]] * 2, axis=1),  # two heads, side by side
             "small": lambda: cv2.resize(face, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA),
             "huge": lambda: np.zeros((7100, 7100, 3), np.uint8)}[photo]()
    path = tmp_path / f"{photo}.png"
    cv2.imwrite(str(path), image)
    out = tmp_path / "avatars"
    proc = run_init(str(path), "--name", photo, "--licence", "x", "--out-root", str(out))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_face_turned_to_one_side_is_refused():
    landmarks = load_avatar("portrait").landmarks
    check_face(landmarks)  # the reference portrait is frontal
    points = dict(landmarks.points)
    left, right = points["face_left"][0], points["face_right"][0]
    points["nose_tip"] = (left + 0.15 * (right - left), points["nose_tip"][1])
    with pytest.raises(AvatarError, match="turned to one side"):
        check_face(landmarks.model_copy(update={"points": points}))

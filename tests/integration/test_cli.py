"""The CLI's model, doctor and error paths as a user meets them."""

import json
import subprocess
import sys
import wave

import numpy as np
import pytest

from parley.speak.files import write_wav
from testbed.openai_server import _encode
from testbed.serve import write_stack


def parley(*args, **kw):
    return subprocess.run([sys.executable, "-m", "parley.cli", *args], capture_output=True, text=True,
                          timeout=300, **kw)


def test_models_list_and_verify():
    listed = parley("models", "list")
    assert listed.returncode == 0
    assert "gemma3-270m" in listed.stdout and "qwen2.5-0.5b-instruct" in listed.stdout and "Apache-2.0" in listed.stdout
    verified = parley("models", "verify")
    assert verified.returncode == 0, verified.stdout
    # LLM, voice, the aligner's reference voice, ASR, VAD, embeddings, the 3D head's base mesh
    assert verified.stdout.count(": ok") == 7


def test_verify_and_fetch_fail_clearly_for_a_hub_only_model_offline(tmp_path):
    env = {"PARLEY_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    verified = parley("models", "verify", "qwen2.5-0.5b-instruct", env=env)
    assert verified.returncode == 1 and "not fetched" in verified.stdout
    unknown = parley("models", "fetch", "no-such-model", env=env)
    assert unknown.returncode == 2 and "known:" in unknown.stderr


def test_missing_model_names_the_fix(tmp_path):
    proc = parley("say", "hello", "--out", str(tmp_path / "o"), env={"PARLEY_HOME": str(tmp_path), "PATH": "/usr/bin"})
    assert proc.returncode == 2 and "parley models fetch hibari-heart" in proc.stderr


def test_config_error_is_reported_not_raised(tmp_path):
    proc = parley("--config", str(write_stack(tmp_path, **{"tts.engine": "espeak"})), "say", "hi", "--out", str(tmp_path))
    assert proc.returncode == 2 and "tts.engine" in proc.stderr
    assert "allowed: hibari, openai, piper, triton" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_doctor_reports_machine_models_and_ports():
    proc = parley("doctor", "--json")
    assert proc.returncode == 0
    checks = {(c["group"], c["name"]): c for c in json.loads(proc.stdout)}
    assert checks[("models", "gemma3-270m")]["ok"] and ("machine", "cpu") in checks and ("ports", "8080") in checks
    assert "cores" in checks[("machine", "cpu")]["detail"]


def test_say_with_nothing_to_speak():
    proc = parley("say", "...", "--out", "/tmp/parley-nothing")
    assert proc.returncode == 2 and "no words to speak" in proc.stderr and "Traceback" not in proc.stderr


def test_chat_survives_a_message_too_long_for_the_context(tmp_path):
    huge = "Hello there! " * 1500  # small talk, far beyond the 2048-token context
    proc = subprocess.run([sys.executable, "-m", "parley.cli", "chat", "--no-play", "--out", str(tmp_path)],
                          input=f"{huge}\nHello!\n", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "(error: the persona prompt and this message need more than" in proc.stderr
    assert "\nAda: Sorry, I can't answer right now." in proc.stdout  # the apology, on the reply's line
    assert proc.stdout.count("LLM first token") == 1  # the next message was answered


def test_chat_prints_each_reply_on_a_line_of_its_own_and_declines_what_it_does_not_know(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "parley.cli", "chat", "--no-play", "--out", str(tmp_path)],
                          input="Who is the dean of engineering?\n/reset\nHello!\n/quit\n", capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    replies = [line for line in proc.stdout.splitlines() if line.startswith("Ada: ")]
    assert replies[1] == ("Ada: I'm sorry, I don't know that. Please ask at Admissions, on the ground floor of the "
                          "Old Building.")
    assert len(replies) == 3 and replies[2].strip() != "Ada:"  # greeting, decline, an answer to "Hello!"


@pytest.fixture(scope="module")
def recording(tmp_path_factory, heart_speech):
    """A question as a 44.1 kHz stereo MP3 would be: hibari's voice, a second of quiet either side."""
    audio, rate = heart_speech
    padded = np.concatenate([np.zeros(rate), audio, np.zeros(rate)]).astype(np.float32)
    path = tmp_path_factory.mktemp("rec") / "question.mp3"
    path.write_bytes(_encode(padded, rate, "mp3"))
    return path


@pytest.fixture(scope="module")
def heart_speech(engines):
    speech = engines.tts.synthesize("Where is the library? I need to return two books.")
    return speech.audio, speech.sample_rate


def test_animate_lip_syncs_any_recording_to_the_portrait(tmp_path, recording):
    proc = parley("animate", str(recording), "--avatar", "portrait", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "library" in proc.stdout.lower() and (tmp_path / "video.mp4").stat().st_size > 10_000
    data = json.loads((tmp_path / "visemes.json").read_text())
    jaw = np.array(data["curves"]["jawOpen"])
    fps = data["fps"]
    # Closed in the quiet second either side, moving while she speaks.
    assert jaw[: int(0.8 * fps)].max() == 0 and jaw[-int(0.8 * fps):].max() == 0 and jaw.max() > 0.3
    with wave.open(str(tmp_path / "speech.wav")) as wav:
        assert abs(wav.getnframes() / wav.getframerate() - data["duration"]) < 0.01


def test_animate_a_3d_avatar_writes_its_timeline(tmp_path, recording):
    proc = parley("animate", str(recording), "--avatar", "head3d", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "avatar3d.html" in proc.stdout and not (tmp_path / "video.mp4").exists()
    assert json.loads((tmp_path / "visemes.json").read_text())["visemes"]


@pytest.mark.parametrize("rate", [8000, 96000])
def test_animate_takes_odd_sample_rates(tmp_path, heart_speech, rate):
    from parley.core.audio import resample

    audio, source_rate = heart_speech
    path = tmp_path / "odd.wav"
    write_wav(path, resample(audio, source_rate, rate), rate)
    proc = parley("animate", str(path), "--avatar", "head3d", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert max(json.loads((tmp_path / "out" / "visemes.json").read_text())["curves"]["jawOpen"]) > 0.3


def test_animate_silence_keeps_the_mouth_closed(tmp_path):
    path = tmp_path / "quiet.wav"
    write_wav(path, np.zeros(16000 * 3, np.float32), 16000)
    proc = parley("animate", str(path), "--avatar", "head3d", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "no speech found" in proc.stderr and "mouth stays closed" in proc.stderr
    assert max(json.loads((tmp_path / "out" / "visemes.json").read_text())["curves"]["jawOpen"]) == 0


@pytest.mark.parametrize("content, args, message", [
    (b"this is not audio at all", [], "not an audio file that can be decoded"),
    (None, [], "no such file"),
    ("long", ["--max-minutes", "0.05"], "longer than 0.05 minutes; cut it into pieces"),
])
def test_animate_refuses_what_it_cannot_use_and_writes_nothing(tmp_path, content, args, message):
    path = tmp_path / "input.wav"
    if content == "long":
        write_wav(path, np.zeros(16000 * 5, np.float32), 16000)
    elif content is not None:
        path.write_bytes(content)
    out = tmp_path / "out"
    proc = parley("animate", str(path), "--out", str(out), *args)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()

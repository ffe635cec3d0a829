"""The Wav2Lip face live (random weights of the real architecture): a call starts on the lipsync rung
and, on this CPU (too slow for the network at 30 fps), steps down to the warp while the audio goes on;
``parley say`` writes the Wav2Lip and MuseTalk faces to a video."""

import asyncio
import subprocess
import sys
import time

import av
import pytest

from testbed.live_client import Caller, serving
from testbed.serve import write_stack


@pytest.fixture(scope="module")
def wav2lip_onnx(tmp_path_factory):
    out = tmp_path_factory.mktemp("w2l") / "wav2lip-random.onnx"
    done = subprocess.run([sys.executable, "export/wav2lip.py", "--random-weights", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def test_a_call_starts_on_wav2lip_and_steps_down_to_the_warp_without_losing_audio(tmp_path, wav2lip_onnx):
    stack = {"face.engine": "wav2lip", "face.model": str(wav2lip_onnx), "face.ladder.lowest": "warp2d",
             "face.ladder.step_down_after_s": 1.0}

    async def call(base: str) -> tuple[Caller, float, float]:
        caller = await Caller(base).connect()
        try:
            await caller.wait_until(lambda: caller.of_type("face_changed"), 30)
            started = time.monotonic()
            audio_at_start = caller.audio_frames
            caller.type("Where is the library?")
            await caller.wait_until(lambda: any(e["rung"] == "warp2d" for e in caller.of_type("face_changed")), 60)
            await caller.answered(timeout=120)
            return caller, time.monotonic() - started, caller.audio_frames - audio_at_start
        finally:
            await caller.close()

    with serving(tmp_path, stack) as served:
        caller, seconds, audio_frames = asyncio.run(call(served.base))
        log = served.log()
    rungs = [e["rung"] for e in caller.of_type("face_changed")]
    assert rungs[0] == "lipsync" and "warp2d" in rungs, rungs
    step_down = next(e for e in caller.of_type("face_changed") if e["rung"] == "warp2d")
    assert "of video late" in step_down["reason"], step_down
    # 20 ms packets all along: the face stepping down never held the voice back.
    assert audio_frames >= 0.9 * seconds * 50, (audio_frames, seconds)
    assert caller.frames > 0 and "face now warp2d" in log


@pytest.fixture(scope="module")
def musetalk_folder(tmp_path_factory):
    """MuseTalk's three exports, random weights; the narrow UNet and VAE of the tests (the real ones are
    gigabytes and far too slow for a CPU test)."""
    out = tmp_path_factory.mktemp("musetalk")
    done = subprocess.run([sys.executable, "export/musetalk.py", "--random-weights", "--test-size", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("engine", ["wav2lip", "musetalk"])
def test_say_writes_the_lipsync_face(tmp_path, engine, request):
    model = request.getfixturevalue("wav2lip_onnx" if engine == "wav2lip" else "musetalk_folder")
    config = write_stack(tmp_path, **{"face.engine": engine, "face.model": str(model)})
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "parley.cli", "--config", str(config), "say", "Hello there.",
                           "--out", str(out), "--avatar", "portrait"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"face: {engine}" in done.stdout
    with av.open(str(out / "video.mp4")) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 10


def test_a_stack_whose_lipsync_export_is_missing_is_refused_by_name(tmp_path):
    config = write_stack(tmp_path, **{"face.engine": "wav2lip", "face.model": "nowhere/wav2lip.onnx"})
    done = subprocess.run([sys.executable, "-m", "parley.cli", "--config", str(config), "say", "Hi.",
                           "--out", str(tmp_path / "out"), "--avatar", "portrait"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "face.model" in done.stderr and "export/wav2lip.py" in done.stderr and "Traceback" not in done.stderr

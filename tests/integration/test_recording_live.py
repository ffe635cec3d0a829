"""Recordings with consent, on a live call: an aiortc caller who agreed asks aloud (its microphone
plays a WAV), hears the answer and hangs up; the recording decodes with PyAV, has the caller's
question and the avatar's reply where they were said, the avatar's video with its mouth moving with
its voice, captions and a transcript matching what the caller received, and the operator lists and
downloads it with the token only. A caller who declined leaves nothing; a folder that cannot be
written leaves the call working and the failure counted."""

import asyncio
import json
import time
import wave

import aiohttp
import av
import numpy as np
import pytest
from aiohttp.test_utils import TestServer

from parley.config import LadderConfig, RecordingConfig
from parley.live import app
from parley.live.app import Server
from parley.live.ladder import Ladder
from parley.live.recordings import Recordings
from testbed.live_client import Caller
from testbed.speech import silence, speak

OPERATOR = "recording-test-operator"
QUESTION = "Where is the library?"
BEFORE_S = 1.0


@pytest.fixture
def server(parley, monkeypatch):
    monkeypatch.setenv("PARLEY_OPERATOR_TOKEN", OPERATOR)
    # The face stays on its drawn rung: on shared cores the ladder could step down to still frames,
    # which a recording would keep as faithfully, with no mouth to check against the voice.
    monkeypatch.setattr(app, "Ladder", lambda config, top: Ladder(LadderConfig(enabled=False), top))
    return Server(parley)


@pytest.fixture(scope="module")
def question(caller, tmp_path_factory):
    """The question said aloud after a second of silence, with silence after it for the reply (the
    microphone going quiet would end the call)."""
    said = speak(caller, QUESTION)
    audio = np.concatenate([silence(BEFORE_S), said, silence(14.0)])
    path = tmp_path_factory.mktemp("mic") / "question.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
    return path, len(said) / 16000


def record_to(server: Server, folder) -> Recordings:
    server.recordings = Recordings(RecordingConfig(enabled=True, folder=folder), folder.parent)
    return server.recordings


async def a_call(server: Server, caller: Caller, ask, then):
    """``caller`` connects, ``ask(caller)`` runs, it hangs up once the avatar is silent; ``then(http,
    base)`` runs once the call has closed (its recording too). Returns the session and what ``then`` returned."""
    async with TestServer(server.app(), host="127.0.0.1") as site:
        base = f"http://127.0.0.1:{site.port}"
        caller.base = base
        await caller.connect()
        try:
            await ask(caller)
            call = server.sessions[caller.session["session"]]
            while call.clock.speaking:  # the whole reply heard
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
        finally:
            await caller.close()
        deadline = time.monotonic() + 30
        while (server.sessions or call.recorder is not None and call.recorder.writing) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as http:
            return caller.session, await then(http, base)


def decoded(media, **which) -> tuple[np.ndarray, np.ndarray]:
    """Each decoded frame's time and its samples' mean level (audio) or image (video, grey)."""
    times, values = [], []
    with av.open(str(media)) as container:
        for frame in container.decode(**which):
            times.append(frame.time)
            values.append(frame.to_ndarray(format="gray") if "video" in which else np.abs(frame.to_ndarray()).mean())
    return np.array(times), np.array(values)


def voiced(times: np.ndarray, levels: np.ndarray, level: float = 0.01) -> tuple[float, float]:
    loud = times[levels > level]
    assert len(loud), "silent throughout"
    return float(loud[0]), float(loud[-1])


def best_lag(sound_at, loudness, frames_at, mouth, during, step_s=0.01, most_s=0.4) -> tuple[float, float]:
    """The shift of the mouth's curve against the voice's (positive: the mouth later) at which the two
    agree best over ``during``, and how well (their correlation there)."""
    grid = np.arange(during[0] - 0.5, during[1] + 0.5, step_s)
    sound = np.interp(grid, sound_at, loudness)
    face = np.interp(grid, frames_at, mouth)
    sound, face = (sound - sound.mean()) / sound.std(), (face - face.mean()) / face.std()
    shifts = range(-round(most_s / step_s), round(most_s / step_s) + 1)
    agreement = [np.mean(sound[:len(grid) - k] * face[k:]) if k >= 0 else np.mean(sound[-k:] * face[:k])
                 for k in shifts]
    best = int(np.argmax(agreement))
    return shifts[best] * step_s, float(agreement[best])


def test_a_consenting_callers_call_is_recorded_with_both_voices_the_video_in_sync_and_a_transcript(
        server, tmp_path, question):
    wav, question_s = question
    recordings = record_to(server, tmp_path / "recordings")
    bearer = {"Authorization": f"Bearer {OPERATOR}"}

    async def ask(caller):
        await caller.answered(1, timeout=120)

    async def fetch(http, base):
        out = {}
        async with http.get(f"{base}/api/recordings") as response:
            out["refused"] = response.status
        async with http.get(f"{base}/api/recordings", headers=bearer) as response:
            out["listed"] = await response.json()
        async with http.get(f"{base}/api/operator", headers=bearer) as response:
            out["operator"] = (await response.json())["recordings"]
        rid = out["listed"]["recordings"][0]["id"]
        async with http.get(f"{base}/api/recordings/{rid}/media", headers=bearer) as response:
            (tmp_path / "downloaded.webm").write_bytes(await response.read())
        async with http.get(f"{base}/api/recordings/{rid}", headers=bearer) as response:
            out["transcript"] = await response.json()
        return out

    caller = Caller("", microphone=wav, record=True)
    session, out = asyncio.run(a_call(server, caller, ask, fetch))
    assert session["recording"] == {"keep_days": 30}  # the page is told to ask
    assert out["refused"] == 401
    (listed,) = out["listed"]["recordings"]
    assert out["operator"]["recent"] == [listed] and out["operator"]["failed"] == 0
    media = recordings.path(listed["id"], "media")
    assert media.read_bytes() == (tmp_path / "downloaded.webm").read_bytes()

    # The caller's question, as long as it was said, then the avatar's reply after it.
    asked = voiced(*decoded(media, audio=1))
    assert asked[1] - asked[0] == pytest.approx(question_s, abs=0.4)
    reply_times, reply_levels = decoded(media, audio=0)
    replied = voiced(reply_times, reply_levels)
    assert asked[1] < replied[0] < asked[1] + 30

    # The mouth moves with the voice: the mouth changes most while the avatar speaks, and how far it
    # is from its idle look follows the voice's loudness best when the two are shifted by at most
    # two frames.
    frame_times, images = decoded(media, video=0)
    assert len(frame_times) > 30
    x0, y0, x1, y1 = server.faces["warp2d"].mouth_box
    mouth = images[:, y0:y1, x0:x1].astype(np.float32).mean(axis=(1, 2))
    change, changed_at = np.abs(np.diff(mouth)), frame_times[1:]
    idle = change[changed_at < replied[0]]
    speaking = change[(changed_at >= replied[0]) & (changed_at <= replied[1])]
    assert speaking.mean() > 3 * idle.mean(), (speaking.mean(), idle.mean())
    lag_s, correlation = best_lag(reply_times, reply_levels, frame_times,
                                  np.abs(mouth - np.median(mouth[frame_times < replied[0] - 0.3])), replied)
    assert abs(lag_s) <= 2 / 30 and correlation > 0.2, (lag_s, correlation)

    # The transcript and the captions are what the caller was shown.
    (done,) = caller.of_type("turn_done")
    transcript = out["transcript"]
    assert transcript == json.loads(recordings.path(listed["id"], "transcript").read_text())
    (turn,) = transcript["turns"]
    assert turn["user"] == done["user"] and turn["reply"] == done["reply"] and turn["grounding"] == done["grounding"]
    assert turn["input"] == "spoken" and turn["passages"] and all(p["text"] for p in turn["passages"])
    played = [e["text"] for e in caller.of_type("chunk_playing")]
    assert [c["text"] for c in transcript["cues"]] == played
    assert transcript["cues"][0]["start_s"] == pytest.approx(replied[0], abs=0.1)
    cues = recordings.path(listed["id"], "captions").read_text()
    assert cues.splitlines()[3::3] == played
    assert transcript["ended"] and transcript["dropped"] == 0


def test_a_caller_who_declines_is_not_recorded(server, tmp_path):
    recordings = record_to(server, tmp_path / "recordings")

    async def ask(caller):
        caller.type(QUESTION)
        await caller.answered(1, timeout=120)

    async def nothing(http, base):
        return None

    caller = Caller("", record=False)
    session, _ = asyncio.run(a_call(server, caller, ask, nothing))
    assert session["recording"] and caller.of_type("turn_done")
    assert not recordings.folder.exists() and recordings.failed == 0


def test_a_folder_that_cannot_be_written_leaves_the_call_working_and_counts_the_failure(server, tmp_path):
    (tmp_path / "a_file").write_text("a file where the folder should be")
    recordings = record_to(server, tmp_path / "a_file" / "recordings")
    bearer = {"Authorization": f"Bearer {OPERATOR}"}

    async def ask(caller):
        caller.type(QUESTION)
        await caller.answered(1, timeout=120)

    async def after(http, base):
        async with http.post(f"{base}/api/sessions") as response:  # the server still takes calls
            status = response.status
        async with http.get(f"{base}/api/operator", headers=bearer) as response:
            return status, (await response.json())["recordings"]

    caller = Caller("", record=True)
    _, (status, seen) = asyncio.run(a_call(server, caller, ask, after))
    (done,) = caller.of_type("turn_done")
    assert done["timings"]["first_audio_ms"] > 0 and caller.frames > 0 and status == 200
    assert recordings.failed == 1 and seen["failed"] == 1 and seen["recent"] == []
    assert b"parley_recordings_failed_total 1.0" in server.metrics.text()


def test_a_server_that_stops_mid_call_closes_the_recording_whole(server, tmp_path):
    recordings = record_to(server, tmp_path / "recordings")

    async def stop_mid_call():
        caller = Caller("", record=True)
        async with TestServer(server.app(), host="127.0.0.1") as site:
            caller.base = f"http://127.0.0.1:{site.port}"
            await caller.connect()
            caller.type(QUESTION)
            await caller.answered(1, timeout=120)
            call = server.sessions[caller.session["session"]]
        # Leaving the block stopped the server with the call in progress.
        await caller.close()
        return call

    call = asyncio.run(stop_mid_call())
    assert not call.recorder.writing
    (listed,) = recordings.listing()
    transcript = json.loads(recordings.path(listed["id"], "transcript").read_text())
    assert transcript["ended"] and len(transcript["turns"]) == 1
    with av.open(str(recordings.path(listed["id"], "media"))) as container:  # closed: its length is known
        assert container.duration and sum(1 for _ in container.decode(video=0))

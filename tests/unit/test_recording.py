"""A call's recorder on its own: it writes the WebM while the call runs (readable before it is
closed), with the avatar's video, the avatar's voice and the caller's microphone on one time line, the
captions cue by cue and the transcript turn by turn; it drops (and counts) what it cannot keep up with
rather than holding the media path; a folder that cannot be written costs the recording, counted and
warned of once; the folder keeps recordings ``keep_days`` and serves them to the operator only."""

import asyncio
import json
import logging
import os
import time

import av
import cv2
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from parley.config import RecordingConfig, StackConfig
from parley.core.events import TurnDone, TurnFailed, TurnTimings
from parley.live import recording
from parley.live.recordings import Recordings

SIZE = 128
FRAME_S = 0.02


def frame(level: int) -> av.VideoFrame:
    image = np.full((SIZE, SIZE, 3), level, np.uint8)
    return av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), format="yuv420p")


def tone(n: int, rate: int, on: bool) -> np.ndarray:
    return np.sin(np.arange(n) / rate * 2 * np.pi * 440) * (0.3 if on else 0.0)


def play(recorder, seconds: float, avatar_from: float, during=None) -> None:
    """``seconds`` of a call in real time: the caller speaks until ``avatar_from``, then the avatar
    answers (its voice, a brighter face, a caption); ``during(t)`` is called once a second."""
    t0 = time.perf_counter()
    for i in range(round(seconds / FRAME_S)):
        t = i * FRAME_S
        speaking = t >= avatar_from
        recorder.avatar_audio((tone(960, 48000, speaking) * 32767).astype(np.int16))
        recorder.caller_audio(tone(320, 16000, not speaking).astype(np.float32))
        if i % 2 == 0:
            recorder.video(frame(200 if speaking else 40))
        if i == round(avatar_from / FRAME_S):
            recorder.caption("The library opens at nine.", seconds - avatar_from)
        if during is not None and i and i % 50 == 0:
            during(t)
        time.sleep(max(0.0, t0 + (i + 1) * FRAME_S - time.perf_counter()))


def the(folder, suffix):
    (path,) = folder.glob(f"*{suffix}")
    return path


def loud_from(media, **which) -> float:
    """When the stream's sound (or brightness) first rises."""
    with av.open(str(media)) as container:
        for decoded in container.decode(**which):
            if "video" in which:  # from the dim face (40) to the bright one (200)
                level = decoded.to_ndarray(format="gray").mean() / 255 - 0.4
            else:
                level = np.abs(decoded.to_ndarray()).mean()
            if level > 0.1:
                return decoded.time
    raise AssertionError(f"{which} never rises")


def test_a_recording_is_written_while_the_call_runs_with_both_voices_and_the_video_in_step(tmp_path):
    recordings = Recordings(RecordingConfig(enabled=True, folder=tmp_path / "rec"), tmp_path)
    recorder = recordings.recorder("abc", SIZE)
    packets_while_running = []

    def peek(t):
        if t >= 2.0 and not packets_while_running:  # a crash now would leave this much
            with av.open(str(the(recordings.folder, ".webm"))) as container:
                packets_while_running.append(sum(1 for p in container.demux() if p.size))

    play(recorder, 3.0, avatar_from=1.0, during=peek)
    done = TurnDone(user="When does the library open?", reply="The library opens at nine.",
                    timings=TurnTimings(first_audio_ms=120.0), grounding="quoted",
                    passages=(("The library opens at nine.", "facts"),))
    recorder.observe(done)
    recorder.observe(TurnFailed(user="And then?", error="the LLM failed"))
    recorder.close()
    assert packets_while_running and packets_while_running[0] > 50

    media = the(recordings.folder, ".webm")
    with av.open(str(media)) as container:
        assert [(s.type, s.metadata.get("title")) for s in container.streams] == \
            [("video", "avatar"), ("audio", "avatar"), ("audio", "caller")]
        assert container.streams.video[0].width == SIZE
    # The avatar's voice, its brighter face and its caption start together, the caller's voice before.
    voice, face, caller = loud_from(media, audio=0), loud_from(media, video=0), loud_from(media, audio=1)
    transcript = json.loads(the(recordings.folder, ".json").read_text())
    (cue,) = transcript["cues"]
    assert voice == pytest.approx(cue["start_s"], abs=0.05) and face == pytest.approx(voice, abs=0.05)
    assert caller < 0.1 and voice > 0.9

    cues = the(recordings.folder, ".vtt").read_text()
    assert cues.startswith("WEBVTT\n\n00:00:0") and "\nThe library opens at nine.\n" in cues
    assert transcript["media"] == media.name and transcript["ended"] and transcript["dropped"] == 0
    answered, failed = transcript["turns"]
    assert answered["user"] == done.user and answered["reply"] == done.reply and answered["grounding"] == "quoted"
    assert answered["input"] == "typed" and answered["timings"]["first_audio_ms"] == 120.0
    assert answered["passages"] == [{"text": "The library opens at nine.", "source": "facts"}]
    assert failed["outcome"] == "failed" and failed["error"] == "the LLM failed" and "reply" not in failed
    assert cue["text"] == done.reply and cue["end_s"] - cue["start_s"] == pytest.approx(2.0, abs=0.05)


def test_a_recorder_that_falls_behind_drops_and_counts_instead_of_waiting(tmp_path, monkeypatch):
    monkeypatch.setattr(recording, "QUEUE_ITEMS", 4)
    recordings = Recordings(RecordingConfig(enabled=True, folder=tmp_path), tmp_path)
    recorder = recordings.recorder("burst", SIZE)
    for level in range(200):  # far faster than VP8 encodes them: a put that waited would never drop
        recorder.video(frame(level))
    recorder.close()
    with av.open(str(the(tmp_path, ".webm"))) as container:
        kept = sum(1 for _ in container.decode(video=0))
    assert recorder.dropped > 0 and kept + recorder.dropped == 200 and recordings.dropped == recorder.dropped
    assert json.loads(the(tmp_path, ".json").read_text())["dropped"] == recorder.dropped


def test_a_folder_that_cannot_be_written_costs_the_recording_only(tmp_path, caplog):
    (tmp_path / "a_file").write_text("not a folder")
    recordings = Recordings(RecordingConfig(enabled=True, folder=tmp_path / "a_file" / "rec"), tmp_path)
    with caplog.at_level(logging.WARNING, logger="parley.recording"):
        for call in ("one", "two"):
            recorder = recordings.recorder(call, SIZE)
            play(recorder, 0.2, avatar_from=0.1)
            recorder.close()
            assert recorder.failed
            recorder.video(frame(0))  # after the failure, still nothing raised and nothing queued
    assert recordings.failed == 2 and recordings.listing() == []
    assert len([r for r in caplog.records if "cannot be recorded" in r.message]) == 1


def test_recording_is_off_unless_turned_on_and_its_keys_are_checked(tmp_path):
    assert Recordings(RecordingConfig(), tmp_path).recorder("abc", SIZE) is None
    assert StackConfig.model_fields["recording"].default.enabled is False
    with pytest.raises(ValueError, match="keep_days"):
        RecordingConfig(keep_days=0)
    with pytest.raises(ValueError, match="extra|unknown|not permitted"):
        RecordingConfig(keep_day=3)


def recorded(tmp_path, call: str) -> Recordings:
    recordings = Recordings(RecordingConfig(enabled=True, folder="rec", keep_days=1), tmp_path)
    recorder = recordings.recorder(call, SIZE)
    play(recorder, 0.2, avatar_from=0.1)
    recorder.close()
    return recordings


def test_recordings_are_listed_served_to_the_operator_only_and_pruned(tmp_path):
    recordings = recorded(tmp_path, "old")
    assert recordings.folder == tmp_path / "rec"  # relative to the stack file's folder
    for path in recordings.folder.iterdir():
        os.utime(path, (time.time() - 2 * 86400,) * 2)
    recordings = recorded(tmp_path, "new")  # its end prunes those past keep_days
    (new,) = recordings.listing()
    assert new["id"].endswith("-new") and new["bytes"] > 0
    assert sorted(p.suffix for p in recordings.folder.iterdir()) == [".json", ".vtt", ".webm"]
    with pytest.raises(ValueError, match="not a recording id"):
        recordings.path("../../etc/passwd", "media")
    with pytest.raises(FileNotFoundError):
        recordings.path("20200101T000000000Z-nobody", "media")

    async def ask():
        app = web.Application()
        app.router.add_routes(recordings.routes("the-operator"))
        bearer = {"Authorization": "Bearer the-operator"}
        async with TestClient(TestServer(app)) as client:
            out = {"refused": [(await client.get(path)).status for path in
                               ("/api/recordings", f"/api/recordings/{new['id']}/media")]}
            out["listed"] = await (await client.get("/api/recordings", headers=bearer)).json()
            media = await client.get(f"/api/recordings/{new['id']}/media", headers=bearer)
            out["media"] = (media.headers["Content-Type"], media.headers["Content-Disposition"], await media.read())
            out["transcript"] = await (await client.get(f"/api/recordings/{new['id']}", headers=bearer)).json()
            out["captions"] = await (await client.get(f"/api/recordings/{new['id']}/captions", headers=bearer)).text()
            out["bad"] = (await client.get("/api/recordings/nope", headers=bearer)).status
            return out

    out = asyncio.run(ask())
    assert out["refused"] == [401, 401] and out["bad"] == 400
    assert [r["id"] for r in out["listed"]["recordings"]] == [new["id"]] and out["listed"]["enabled"]
    assert out["media"][0] == "video/webm" and "attachment" in out["media"][1]
    assert out["media"][2] == recordings.path(new["id"], "media").read_bytes()
    assert out["transcript"]["call"] == "new" and out["captions"].startswith("WEBVTT")

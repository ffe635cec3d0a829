"""Calls recorded with their caller's consent (``recording:`` in the stack, off by default).

A recorded call leaves three files in ``recording.folder``, named like its report:

- ``<id>.webm``: the avatar's video (VP8), the avatar's voice and the caller's microphone (two Opus
  tracks, in that order), on one time line: when each frame and sound went out or came in;
- ``<id>.vtt``: the captions (WebVTT), a cue for each spoken chunk as it started playing;
- ``<id>.json``: the transcript, each turn's words, timings, grounding and the passages used.

All three are written while the call runs: the WebM in clusters of about a second, flushed as they
close, the captions cue by cue, the transcript rewritten whole after each turn. A crash loses the last
seconds, not the call. The media path only hands items to a bounded queue; the recorder's own thread
encodes and writes them. A full queue drops the item (counted), so a slow disk never slows the call,
and a folder that cannot be written ends the recording, never the call: the first failure is logged,
every one is counted.
"""

from __future__ import annotations

import collections
import fractions
import json
import logging
import os
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from parley.core.audio import SAMPLE_RATE
from parley.core.events import Event, TurnDone, TurnFailed
from parley.core.threads import start_worker
from parley.live.media import RATE
from parley.live.report import turn_entry, utc
from parley.live.reports import file_id

log = logging.getLogger("parley.recording")
SCHEMA = 1
KINDS = {"media": (".webm", "video/webm"), "captions": (".vtt", "text/vtt"),
         "transcript": (".json", "application/json")}
# Four seconds of media (30 video frames and 100 audio frames, both voices, a second): past that the
# recorder is behind for good, and what comes is dropped.
QUEUE_ITEMS = 130 * 4
VIDEO_KBPS = 800
KEYFRAME_S = 1  # a cluster starts at a keyframe: what a crash can lose
GAP_S = 0.2  # audio that comes this much later than the last ended is placed there, silence between
CLOSE_TIMEOUT_S = 10.0
# Below the face's threads (face.nice): when the cores are short, the recording drops frames first.
RECORD_NICE = 15


class Folder(Protocol):
    """Where a recorder writes, and whom it tells of what it dropped and of a failure (``Recordings``)."""

    folder: Path
    dropped: int

    def failure(self, exc: BaseException) -> None: ...

    def prune(self) -> None: ...


class _AudioLane:
    """One audio track: samples placed on the recording's time line, contiguous while they come on
    time, after a stretch of silence when they come late (a microphone that stalled)."""

    def __init__(self, stream, sample_format: str) -> None:
        self.stream = stream
        self.rate = stream.codec_context.sample_rate
        self.format = sample_format
        self.next = None  # the sample the next one follows

    def frames(self, t: float, samples: np.ndarray) -> list[av.AudioFrame]:
        at = round(t * self.rate)
        out = []
        if self.next is None:
            self.next = at
        elif at - self.next > GAP_S * self.rate:
            out.append(self._frame(np.zeros(at - self.next, samples.dtype)))
        out.append(self._frame(samples))
        return out

    def _frame(self, samples: np.ndarray) -> av.AudioFrame:
        frame = av.AudioFrame.from_ndarray(samples[None, :], format=self.format, layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self.next
        frame.time_base = fractions.Fraction(1, self.rate)
        self.next += len(samples)
        return frame


class CallRecorder:
    """One call's recording. Fed from the event loop (``avatar_audio``, ``caller_audio``, ``video``,
    ``caption``, ``observe``), never waiting; its thread starts with the first item and ends at ``close``."""

    def __init__(self, recordings: Folder, call_id: str, video_size: int) -> None:
        self.recordings = recordings
        self.call_id = call_id
        self.video_size = video_size
        self._media: queue.Queue = queue.Queue(QUEUE_ITEMS)
        self._words: collections.deque = collections.deque()  # captions and turns: few, never dropped
        self._t0: float | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self.failed = False
        self.dropped = 0
        self.id: str | None = None

    def _now(self) -> float:
        if self._t0 is None:
            self._t0 = time.perf_counter()
            self.started = time.time()
            self.id = file_id(self.started, self.call_id)
            self._thread = threading.Thread(target=self._run, name=f"parley-record-{self.call_id}", daemon=True)
            self._thread.start()
        return time.perf_counter() - self._t0

    def _put(self, *item) -> None:
        if self.failed or self._closing.is_set():
            return
        t = self._now()
        try:
            self._media.put_nowait((item[0], t, *item[1:]))
        except queue.Full:
            self.dropped += 1
            self.recordings.dropped += 1

    def avatar_audio(self, pcm: np.ndarray) -> None:
        """A frame of the avatar's audio as it is sent (int16 at the media clock's rate)."""
        self._put("avatar", pcm)

    def caller_audio(self, pcm: np.ndarray) -> None:
        """A frame of the caller's microphone as decoded (16 kHz float32)."""
        self._put("caller", pcm)

    def video(self, frame: av.VideoFrame) -> None:
        """A video frame as it is sent; its pixels are copied (the encoders share the frame)."""
        self._put("video", frame.to_ndarray())

    def caption(self, text: str, seconds: float) -> None:
        """A spoken chunk of ``seconds`` started playing."""
        if not self.failed and not self._closing.is_set():
            self._words.append(("caption", self._now(), text, seconds))

    def observe(self, event: Event) -> None:
        if isinstance(event, (TurnDone, TurnFailed)) and not self.failed and not self._closing.is_set():
            self._words.append(("turn", self._now(), event))

    @property
    def writing(self) -> bool:
        """Whether its thread still runs (until ``close`` has finished the files)."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Write what is queued and close the files (blocking: call it off the event loop)."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join(CLOSE_TIMEOUT_S)
            if self.writing:  # far behind: it finishes on its own, the call's end does not wait for it
                log.warning("recording of %s still writing after %g s", self.call_id, CLOSE_TIMEOUT_S)

    # --- the recorder's thread ------------------------------------------------------------------

    def _run(self) -> None:
        start_worker("parley-record", RECORD_NICE)
        folder = self.recordings.folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.transcript = {"schema": SCHEMA, "call": self.call_id, "started": utc(self.started), "ended": None,
                               "media": f"{self.id}.webm", "captions": f"{self.id}.vtt", "turns": [],
                               "cues": [], "dropped": 0}
            self._write_transcript()
            with open(folder / f"{self.id}.vtt", "w") as vtt:
                vtt.write("WEBVTT\n\n")
                vtt.flush()
                self._vtt = vtt
                self._record(folder / f"{self.id}.webm")
        except (OSError, av.FFmpegError) as exc:
            self.failed = True
            self.recordings.failure(exc)
            while not self._media.empty():  # nothing more is wanted of what was queued
                self._media.get_nowait()
            return
        self.transcript["ended"] = utc(time.time())
        self.transcript["dropped"] = self.dropped
        try:
            self._write_transcript()
            self.recordings.prune()
        except OSError as exc:
            self.recordings.failure(exc)

    def _record(self, path: Path) -> None:
        # Clusters of at most a second, each flushed to the file as it closes.
        with av.open(str(path), "w", format="webm",
                     options={"cluster_time_limit": str(KEYFRAME_S * 1000), "flush_packets": "1"}) as out:
            # The fastest VP8 there is, on this one thread: the call's own encoders come first.
            video = out.add_stream("libvpx", rate=30, options={"deadline": "realtime", "cpu-used": "16",
                                                               "lag-in-frames": "0", "threads": "1"})
            video.width = video.height = self.video_size
            video.pix_fmt = "yuv420p"
            video.bit_rate = VIDEO_KBPS * 1000
            video.gop_size = 30 * KEYFRAME_S
            video.codec_context.time_base = fractions.Fraction(1, 1000)
            video.metadata["title"] = "avatar"
            lanes = {}
            for who, rate, fmt in (("avatar", RATE, "s16"), ("caller", SAMPLE_RATE, "flt")):
                stream = out.add_stream("libopus", rate=rate, layout="mono")
                stream.metadata["title"] = who
                lanes[who] = _AudioLane(stream, fmt)
            last_ms = -1
            while True:
                self._words_out()
                try:
                    kind, t, payload = self._media.get(timeout=0.2)
                except queue.Empty:
                    if self._closing.is_set():
                        break
                    continue
                if kind == "video":
                    frame = av.VideoFrame.from_ndarray(payload, format="yuv420p")
                    if frame.width != self.video_size or frame.height != self.video_size:
                        frame = frame.reformat(self.video_size, self.video_size)
                    last_ms = max(last_ms + 1, round(t * 1000))
                    frame.pts = last_ms
                    frame.time_base = fractions.Fraction(1, 1000)
                    out.mux(video.encode(frame))
                else:
                    lane = lanes[kind]
                    for frame in lane.frames(t, payload):
                        out.mux(lane.stream.encode(frame))
            for stream in (video, *(lane.stream for lane in lanes.values())):
                out.mux(stream.encode(None))
        self._words_out()

    def _words_out(self) -> None:
        turned = False
        while self._words:
            kind, t, *rest = self._words.popleft()
            if kind == "caption":
                text, seconds = rest
                cue = {"start_s": round(t, 3), "end_s": round(t + seconds, 3), "text": text}
                self.transcript["cues"].append(cue)
                self._vtt.write(f"{_vtt_time(cue['start_s'])} --> {_vtt_time(cue['end_s'])}\n{text}\n\n")
                self._vtt.flush()
            else:
                self.transcript["turns"].append(_turn(t, rest[0]))
                turned = True
        if turned:
            self._write_transcript()

    def _write_transcript(self) -> None:
        folder = self.recordings.folder
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(self.transcript, out, indent=1)
            os.replace(temporary, folder / f"{self.id}.json")
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _turn(t: float, event: TurnDone | TurnFailed) -> dict:
    """A turn of the transcript: what its report keeps, and its words and the passages used."""
    words = {"user": event.user}
    if isinstance(event, TurnDone):
        passages = [{"text": text, "source": source} for text, source in event.passages]
        words |= {"reply": event.reply, "passages": passages}
    return {**turn_entry(round(t, 3), event), **words}

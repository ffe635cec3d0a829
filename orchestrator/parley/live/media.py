"""The avatar's outgoing media on one clock: the audio track is the clock, video follows it.

``MediaClock`` holds the reply's audio (resampled to 48 kHz for Opus) with each chunk's viseme track.
The audio track takes 20 ms from it per frame, silence when there is nothing to say; the media
time is the number of samples sent. The video track renders, for each frame, the face at the
position the audio has reached, so a video frame that is late shows the current mouth, never an
old one: late frames are effectively skipped, never queued.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
import cv2
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from parley.core.audio import resample
from parley.core.events import Event
from parley.core.interfaces import Face
from parley.core.mood import Mood
from parley.core.speech import SpokenChunk
from parley.core.threads import StageExecutor
from parley.face.fallback import FallbackFace

RATE = 48000
FRAME = 960  # 20 ms
VIDEO_CLOCK = 90000
STILL_S = 0.5  # a still frame this often while the browser draws the face (or there is none)


def _to_48k(audio: np.ndarray, rate: int) -> np.ndarray:
    return (np.clip(resample(audio, rate, to=RATE), -1.0, 1.0) * 32767.0).astype(np.int16)


_NOTHING = np.zeros(0, np.int16)


def _yuv(image: np.ndarray) -> av.VideoFrame:
    """The encoders' format, I420 (BT.601, limited range, as swscale makes it), by OpenCV: several
    times cheaper than PyAV's reformat, and it is paid for every frame."""
    return av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), format="yuv420p")


@dataclass
class _Queued:
    pcm: np.ndarray  # int16 at 48 kHz; emptied once sent or dropped
    chunk: SpokenChunk | None  # dropped too once played: only its text is kept, for ``heard``
    text: str
    sent: int = 0  # samples already sent

    def done(self) -> None:
        """Played or dropped: free the audio (a slice would keep the whole buffer alive)."""
        self.pcm = _NOTHING
        self.chunk = None


class MediaClock:
    """The live ``SpeechOutput``: what the caller hears is what has been sent."""

    def __init__(self, history: int = 256, on_sent: Callable[[np.ndarray, int], None] | None = None,
                 on_chunk_start: Callable[[SpokenChunk], None] | None = None) -> None:
        self._queue: deque[_Queued] = deque()
        self.on_sent = on_sent  # told every frame sent, silence too (the echo guard's time line)
        # Told when a chunk's first samples go out: a browser drawing the face itself starts its
        # viseme track then, so the mouth follows the audio the caller is about to hear.
        self.on_chunk_start = on_chunk_start
        # The most recent chunks, numbered from 0 for ever: ``mark``/``heard`` positions.
        self._recent: deque[tuple[int, _Queued]] = deque(maxlen=history)
        self._added = 0
        self.samples_sent = 0
        self.started_at = time.perf_counter()
        self._queued = asyncio.Event()  # audio was added: the video goes back to full rate at once

    def add(self, chunk: SpokenChunk) -> None:
        queued = _Queued(_to_48k(chunk.speech.audio, chunk.speech.sample_rate), chunk, chunk.speech.text)
        self._queue.append(queued)
        self._recent.append((self._added, queued))
        self._added += 1
        self._queued.set()

    async def until_speaking(self, seconds: float) -> bool:
        """Wait ``seconds``, or less if a reply's audio is queued meanwhile; whether it was."""
        self._queued.clear()
        try:
            await asyncio.wait_for(self._queued.wait(), seconds)
            return True
        except asyncio.TimeoutError:
            return False

    def flush(self) -> None:
        """Barge-in: drop everything not yet sent."""
        for queued in self._queue:
            queued.done()
        self._queue.clear()

    def mark(self) -> int:
        return self._added

    def heard(self, mark: int) -> tuple[str, float]:
        started = [q for i, q in self._recent if i >= mark and q.sent > 0]
        return " ".join(q.text for q in started), sum(q.sent for q in started) / RATE

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    def next_audio(self) -> np.ndarray:
        out = np.zeros(FRAME, np.int16)
        filled = 0
        while filled < FRAME and self._queue:
            head = self._queue[0]
            if head.sent == 0 and self.on_chunk_start is not None:
                self.on_chunk_start(head.chunk)
            take = min(FRAME - filled, len(head.pcm) - head.sent)
            out[filled : filled + take] = head.pcm[head.sent : head.sent + take]
            head.sent += take
            filled += take
            if head.sent >= len(head.pcm):
                self._queue.popleft().done()  # keep the count of samples sent, free the rest
        self.samples_sent += FRAME
        if self.on_sent is not None:
            self.on_sent(out, RATE)
        return out

    def mouth(self) -> tuple[SpokenChunk, float] | None:
        """The chunk being spoken and the time reached in it, or None when silent."""
        if not self._queue:
            return None
        head = self._queue[0]
        return head.chunk, head.sent / RATE


class AvatarAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, clock: MediaClock, on_late: Callable[[float], None] | None = None) -> None:
        super().__init__()
        self.clock = clock
        self.on_late = on_late  # each packet's lateness in ms (the degradation ladder's input)
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":  # stopped: the relay's reader and every copy end with it
            raise MediaStreamError
        if self._start is None:
            self._start = time.perf_counter()
        else:
            self._pts += FRAME
            delay = self._start + self._pts / RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.on_late is not None:
                self.on_late(max(0.0, -delay * 1000))
        frame = av.AudioFrame.from_ndarray(self.clock.next_audio()[None, :], format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


class AvatarVideoTrack(MediaStreamTrack):
    """The portrait at the audio's position, 30 times a second (``idle_fps`` while it is silent); on
    rungs without server video, a still frame twice a second, so the stream stays open at almost no
    cost."""

    kind = "video"

    def __init__(self, clock: MediaClock, face: Face, on_late: Callable[[float], None] | None = None,
                 rendering: Callable[[], bool] = lambda: True, executor: StageExecutor | None = None,
                 idle_fps: float | None = None, on_frame: Callable[[av.VideoFrame], None] | None = None) -> None:
        super().__init__()
        self.idle_fps = idle_fps
        self.on_frame = on_frame  # told every frame as it is sent (a recording's video)
        self.clock = clock
        self.face = face  # the call switches it with the ladder's rung
        self.mood = Mood()  # what the face shows of the call; replaced whole, so a frame reads one
        self.executor = executor or StageExecutor("face", 1)  # the face's threads (shared when given)
        self.on_late = on_late  # each frame's lateness in ms
        self.rendering = rendering
        self._start: float | None = None
        self._index = 0
        self._still: np.ndarray | None = None
        self.frames_sent = 0
        self.frames_skipped = 0

    def _render(self, t: float, chunk: SpokenChunk | None, chunk_t: float | None) -> tuple[av.VideoFrame, bool]:
        # Every encoder (the caller's, each broadcast's) shares this frame: converted once here, none of
        # them converts it again. (PyAV frames also must not be converted from two threads at once.)
        face = self.face
        image = face.frame(t, chunk, chunk_t, self.mood)
        # A frame the network could not draw, drawn by its fallback, counts as late (see FallbackFace).
        failed = isinstance(face, FallbackFace) and face.failed
        if chunk is None:
            self._still = image
        return _yuv(image), failed

    def observe(self, event: Event) -> None:
        """The call's events as the page sees them: the face listens, nods and greets on its own clock."""
        self.mood = self.mood.after(event, time.perf_counter() - self.clock.started_at)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        fps = self.face.fps
        now = time.perf_counter()
        if self._start is None:
            self._start = now
        elif not self.rendering() and self._still is not None:
            await asyncio.sleep(STILL_S)
            self._index = int((time.perf_counter() - self._start) * fps)
            frame = _yuv(self._still)
            return self._stamp(frame, fps)
        else:
            # Silent, a frame every ``step`` slots of the full rate, so the time line stays the same.
            step = 1 if self.clock.speaking or not self.idle_fps else max(1, round(fps / self.idle_fps))
            due = self._index + step
            behind = int((now - self._start) * fps) - due
            if behind > 0:  # rendering fell behind: skip those frame slots
                self.frames_skipped += behind
                due += behind
            self._index = due
            delay = self._start + due / fps - time.perf_counter()
            if delay > 0 and step == 1:
                await asyncio.sleep(delay)
            elif delay > 0 and await self.clock.until_speaking(delay):
                # A reply's first words are queued: the mouth moves with them, not at the next idle slot.
                self._index = max(due - step + 1, int((time.perf_counter() - self._start) * fps))
        mouth = self.clock.mouth()
        t = time.perf_counter() - self.clock.started_at
        chunk, chunk_t = mouth if mouth is not None else (None, None)
        frame, failed = await self.executor.run(self._render, t, chunk, chunk_t)
        if self.on_late is not None:  # how long after its slot the frame is ready
            late_ms = (time.perf_counter() - self._start - self._index / fps) * 1000
            self.on_late(math.inf if failed else max(0.0, late_ms))
        return self._stamp(frame, fps)

    def _stamp(self, frame: av.VideoFrame, fps: float) -> av.VideoFrame:
        frame.pts = int(self._index * VIDEO_CLOCK / fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.frames_sent += 1
        if self.on_frame is not None:
            self.on_frame(frame)
        return frame

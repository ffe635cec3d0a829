"""The RTMP push: the avatar encoded as H.264 + AAC in FLV, for nginx-rtmp to cut into HLS.

Encoding and the socket writes are blocking (PyAV), so they run in a worker thread fed by a small
queue; when the thread falls behind, frames are dropped, so the push stays live instead of drifting
behind, and a stalled RTMP server never holds up the session.

The frames are shared with the other consumers of the avatar's tracks (the caller's encoders among
them), so the push never changes them: it encodes copies stamped on its own clock, the time each
frame arrived, which also keeps FLV's timestamps rising across dropped frames.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import threading
import time

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from parley.core.errors import ParleyError

log = logging.getLogger("parley.rtmp")
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
GOP_S = 1  # one key frame a second: HLS can cut segments (and viewers can join) every second


class RtmpPush:
    name = "rtmp"

    def __init__(self, url: str, video_kbps: int, fps: float) -> None:
        self.url = url
        self.fps = round(fps)
        self.video_kbps = video_kbps
        self._queue: queue.Queue = queue.Queue(maxsize=60)
        self._tasks: list[asyncio.Task] = []
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.frames_dropped = 0

    async def start(self, audio: MediaStreamTrack, video: MediaStreamTrack) -> None:
        first_video = await video.recv()  # the size and rate of the stream
        opened = asyncio.get_running_loop().create_future()
        self._thread = threading.Thread(target=self._write, args=(first_video, opened, asyncio.get_running_loop()),
                                        name="rtmp-push", daemon=True)
        self._thread.start()
        await opened
        self._tasks = [asyncio.ensure_future(self._pump(audio)), asyncio.ensure_future(self._pump(video))]

    async def _pump(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            try:
                self._queue.put_nowait((frame, time.perf_counter()))
            except queue.Full:
                self.frames_dropped += 1
            if self.error is not None:
                return

    def _write(self, first_video: av.VideoFrame, opened: asyncio.Future, loop: asyncio.AbstractEventLoop) -> None:
        started = time.perf_counter()
        try:
            container = av.open(self.url, mode="w", format="flv", timeout=10)
            fps = self.fps
            video = container.add_stream("libx264", rate=fps, options={
                "preset": "ultrafast", "tune": "zerolatency", "g": str(GOP_S * fps), "bf": "0"})
            video.width, video.height, video.pix_fmt = first_video.width, first_video.height, "yuv420p"
            video.bit_rate = self.video_kbps * 1000
            video.codec_context.time_base = VIDEO_TIME_BASE
            audio = container.add_stream("aac", rate=48000, layout="mono")
        except (av.FFmpegError, OSError) as exc:
            loop.call_soon_threadsafe(opened.set_exception,
                                      ParleyError(f"cannot push RTMP to {self.url}: {exc}; is the RTMP server up?"))
            return
        loop.call_soon_threadsafe(opened.set_result, None)
        item = (first_video, started)
        clock = {"video": -1, "audio": 0}  # the last video pts, the next audio pts
        try:
            while item is not None:
                shared, arrived = item
                if isinstance(shared, av.VideoFrame):
                    frame = av.VideoFrame.from_ndarray(shared.to_ndarray(), format=shared.format.name)
                    clock["video"] = max(clock["video"] + 1, round((arrived - started) / VIDEO_TIME_BASE))
                    frame.pts, frame.time_base, stream = clock["video"], VIDEO_TIME_BASE, video
                else:
                    frame = av.AudioFrame.from_ndarray(shared.to_ndarray(), format=shared.format.name,
                                                       layout=shared.layout.name)
                    frame.sample_rate = shared.sample_rate
                    # Contiguous audio, unless frames were dropped: then jump to the arrival time.
                    on_time = round((arrived - started) * shared.sample_rate)
                    if on_time - clock["audio"] > shared.sample_rate // 10:
                        clock["audio"] = on_time
                    frame.pts, frame.time_base = clock["audio"], fractions.Fraction(1, shared.sample_rate)
                    clock["audio"] += shared.samples
                    stream = audio
                container.mux(stream.encode(frame))
                item = self._queue.get()
            for stream in (video, audio):
                container.mux(stream.encode(None))
        except (av.FFmpegError, OSError) as exc:
            self.error = str(exc)
            log.warning("RTMP push to %s stopped: %s", self.url, exc)
        finally:
            container.close()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._thread is not None:
            while not self._queue.empty():  # what is left unsent is stale: end the stream now
                self._queue.get_nowait()
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join, 10)

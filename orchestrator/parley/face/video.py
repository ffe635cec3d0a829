"""Frames on the audio clock, and MP4 files (H.264 + AAC) through PyAV.

Frame ``i`` shows the face at ``i / fps`` seconds of the reply's audio. Live, a frame whose slot
has already passed when its turn comes is skipped, never queued: the mouth stays on the sound's
time and audio is never held back for video.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from parley.core.interfaces import Face
from parley.core.speech import SpokenChunk
from parley.speak.visemes import frame_count


def frames_on_clock(face: Face, chunk: SpokenChunk, clock: Callable[[], float] | None = None,
                    skipped: list[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, frame) for each frame time of ``chunk``; with a ``clock`` (seconds since the
    audio started), frames whose display slot has passed are skipped and their index recorded."""
    fps = face.fps
    for i in range(frame_count(chunk.speech.duration, fps)):
        if clock is not None and clock() >= (i + 1) / fps:
            if skipped is not None:
                skipped.append(i)
            continue
        yield i, face.frame(i / fps, chunk)


def write_mp4(path: Path, frames: Iterable[np.ndarray], fps: float, audio: np.ndarray, sample_rate: int) -> None:
    """H.264 (yuv420p) video and AAC audio in one MP4; frames are RGB uint8 of equal size."""
    with av.open(str(path), "w", format="mp4") as container:
        video = None
        for frame in frames:
            if video is None:
                video = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                video.height, video.width = frame.shape[:2]
                video.pix_fmt = "yuv420p"
                video.options = {"crf": "20", "preset": "veryfast"}
                sound = container.add_stream("aac", rate=sample_rate, layout="mono")
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        if video is None:
            raise ValueError("no frames to write")
        for packet in video.encode(None):
            container.mux(packet)
        pcm = np.clip(audio, -1.0, 1.0).astype(np.float32)[None, :]
        block = 1024
        for start in range(0, pcm.shape[1], block):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, start : start + block]),
                                               format="flt", layout="mono")
            chunk.sample_rate = sample_rate
            chunk.pts = start
            for packet in sound.encode(chunk):
                container.mux(packet)
        for packet in sound.encode(None):
            container.mux(packet)

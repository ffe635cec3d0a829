"""Audio in memory cut as a microphone delivers it: 20 ms frames of 16 kHz mono, paced or not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np

from parley.core.audio import SAMPLE_RATE


def frames(audio: np.ndarray, frame_ms: int = 20) -> Iterator[np.ndarray]:
    """Cut 16 kHz audio into microphone-sized frames (the last one zero-padded)."""
    size = SAMPLE_RATE * frame_ms // 1000
    for start in range(0, len(audio), size):
        frame = audio[start : start + size]
        if len(frame) < size:
            frame = np.pad(frame, (0, size - len(frame)))
        yield frame


async def stream_frames(audio: np.ndarray, frame_ms: int = 20, realtime: bool = False) -> AsyncIterator[np.ndarray]:
    """Frames as a live source would deliver them: paced at wall-clock speed when ``realtime``."""
    start = time.perf_counter()
    for i, frame in enumerate(frames(audio, frame_ms)):
        if realtime:
            # A frame exists once it has been captured in full.
            delay = start + (i + 1) * frame_ms / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)  # let the other stages run between frames
        yield frame

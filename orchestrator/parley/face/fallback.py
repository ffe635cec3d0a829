"""A face with a fallback: frames its network cannot draw (Triton down, a GPU error) are drawn by the
warp instead, so the mouth keeps moving; the frame is marked failed, and the live video counts it as
late, so a network that keeps failing steps the ladder down (``parley.live.ladder``).

One per call (``failed`` is about that call's last frame); the faces it wraps are shared.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

from parley.core.errors import EngineUnavailable
from parley.core.interfaces import Face
from parley.core.mood import Mood
from parley.core.speech import SpokenChunk

log = logging.getLogger("parley.face")


class FallbackFace:
    def __init__(self, face: Face, backup: Face) -> None:
        self.face = face
        self.backup = backup
        self.fps = face.fps
        self.size = face.size
        self.failed = False  # the last frame was drawn by the backup
        self.failures = 0

    def frame(self, t: float, chunk: SpokenChunk | None = None, chunk_t: float = 0.0,
              mood: Mood | None = None) -> np.ndarray:
        try:
            image = self.face.frame(t, chunk, chunk_t, mood)
            self.failed = False
            return image
        except EngineUnavailable as exc:
            if self.failures == 0:
                log.warning("the face's network failed; drawing with the warp meanwhile: %s", exc)
            self.failures += 1
            self.failed = True
            return self.backup.frame(t, chunk, chunk_t, mood)

    def frames(self, chunk: SpokenChunk) -> Iterator[np.ndarray]:
        return self.face.frames(chunk)

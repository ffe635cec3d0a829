"""Wav2Lip: the portrait's face box, regenerated around the mouth from the audio.

A whole reply is rendered in batches (``frames``: one network call for many frames, on a GPU the
whole point); the live video asks for one ``frame`` at a time like any ``Face``, and Triton's dynamic
batcher merges those calls across sessions. Both draw on top of the 2D warp's frames without visemes,
so the head still sways and blinks. The generated 96×96 face is scaled back into its box and blended
in with a feathered mask over the lower face, where Wav2Lip changes anything.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from parley.config.avatar import Avatar
from parley.core.audio import SAMPLE_RATE, resample
from parley.core.mood import Mood
from parley.core.speech import SpokenChunk
from parley.face.avatars import face_extent
from parley.face.network import ChunkFeatures, Network
from parley.face.video import frame_count
from parley.face.warp import WarpFace
from parley.face.wav2lip.mel import frame_windows, melspectrogram, window_at

FACE = 96


def face_box(avatar: Avatar, renderer: WarpFace) -> tuple[int, int, int, int]:
    """The face box in output pixels, as Wav2Lip's face detector would give it (chin padded)."""
    left, top, right, chin = face_extent(avatar.landmarks)
    (left, top), (right, chin) = renderer.to_output((left, top)), renderer.to_output((right, chin))
    bottom = chin + 0.08 * (chin - top)
    box = np.clip([left, top, right, bottom], 0, renderer.size).astype(int)
    return tuple(int(v) for v in box)


class Wav2LipFace:
    """``network`` is the exported generator (inputs ``audio``, ``face``; output ``frame``), ``base``
    the avatar's warp, whose head it draws on."""

    def __init__(self, network: Network, base: WarpFace, batch_size: int = 16) -> None:
        self.network = network
        self.fps = base.fps
        self.batch_size = batch_size
        self.base = base
        self.size = base.size
        self._mels = ChunkFeatures(lambda chunk: melspectrogram(resample(chunk.speech.audio,
                                                                         chunk.speech.sample_rate)))
        self.box = face_box(base.avatar, base)
        x0, y0, x1, y1 = self.box
        h, w = y1 - y0, x1 - x0
        # Blend only the lower face, fading out towards the box edges and the eyes.
        mask = np.zeros((h, w), np.float32)
        cv2.ellipse(mask, (w // 2, int(h * 0.72)), (int(w * 0.42), int(h * 0.3)), 0, 0, 360, 1.0, -1)
        self.mask = cv2.GaussianBlur(mask, (0, 0), max(w, h) * 0.04)[..., None]

    def generate(self, mels: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """One model call: (B, 80, 16) mel windows and (B, 96, 96, 3) RGB uint8 faces → the same."""
        x = faces[..., ::-1].astype(np.float32) / 255.0  # Wav2Lip was trained on BGR (OpenCV) frames
        masked = x.copy()
        masked[:, FACE // 2 :] = 0.0  # the lower half is what the model draws from the audio
        face_in = np.concatenate([masked, x], axis=3).transpose(0, 3, 1, 2)
        out = self.network(audio=mels[:, None], face=np.ascontiguousarray(face_in))
        bgr = np.clip(out.transpose(0, 2, 3, 1) * 255.0, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(bgr[..., ::-1])

    def paste(self, frame: np.ndarray, face: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        region = frame[y0:y1, x0:x1].astype(np.float32)
        resized = cv2.resize(face, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        out = frame.copy()
        out[y0:y1, x0:x1] = (region * (1 - self.mask) + resized * self.mask).astype(np.uint8)
        return out

    def frame(self, t: float, chunk: SpokenChunk | None = None, chunk_t: float | None = None,
              mood: Mood | None = None) -> np.ndarray:
        """The ``Face`` of one frame: the warp's head (mouth closed, living as ``mood`` has it) with
        the mouth Wav2Lip draws from ``chunk``'s audio at ``chunk_t`` (default ``t``); a batch of one."""
        base = self.base.frame(t, mood=mood)
        if chunk is None:
            return base
        index = int((t if chunk_t is None else chunk_t) * self.fps)
        mel = window_at(self._mels(chunk), self.fps, index)[None]
        x0, y0, x1, y1 = self.box
        face = cv2.resize(base[y0:y1, x0:x1], (FACE, FACE), interpolation=cv2.INTER_AREA)[None]
        return self.paste(base, self.generate(mel, face)[0])

    def frames(self, chunk: SpokenChunk) -> Iterator[np.ndarray]:
        """Every frame of ``chunk`` at ``fps``, generated ``batch_size`` frames per network call."""
        speech = chunk.speech
        audio = resample(speech.audio, speech.sample_rate)
        n = frame_count(len(audio) / SAMPLE_RATE, self.fps)
        mels = frame_windows(melspectrogram(audio), self.fps, n)
        x0, y0, x1, y1 = self.box
        for start in range(0, n, self.batch_size):
            base = [self.base.frame(i / self.fps) for i in range(start, min(start + self.batch_size, n))]
            faces = np.stack([cv2.resize(f[y0:y1, x0:x1], (FACE, FACE), interpolation=cv2.INTER_AREA) for f in base])
            generated = self.generate(mels[start : start + len(base)], faces)
            yield from (self.paste(f, g) for f, g in zip(base, generated))

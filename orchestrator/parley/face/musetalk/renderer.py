"""MuseTalk as a ``Face``: the 2D warp's head with the lower face redrawn from the audio.

MuseTalk's own real-time scheme: at start-up a short loop of the warp's frames (mouth closed) is
rendered once, and for each loop frame the face crop and its VAE latents are computed then, with
one blending mask for all; per video frame only the UNet and the VAE decoder run (``network``: a
batch for ``frames``, a batch of one for ``frame``) before the face is pasted back. The loop plays
forwards then backwards, so the head's sway never jumps; silent frames show the loop as it is.

The per-frame ``network`` may be in this process or on Triton; the VAE encoder (start-up) and the
Whisper encoder (once per chunk of speech) run here on onnxruntime.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from parley.config.avatar import Avatar
from parley.core.audio import resample
from parley.core.mood import Mood
from parley.core.speech import SpokenChunk
from parley.face.avatars import face_extent
from parley.face.musetalk import AUDIO_ONNX, ENCODER_ONNX, FACE, FRAME_ONNX
from parley.face.musetalk.features import frame_windows, whisper_features
from parley.face.network import ChunkFeatures, Network, OnnxNetwork
from parley.face.video import frame_count
from parley.face.warp import WarpFace


def musetalk_box(avatar: Avatar, base: WarpFace) -> tuple[int, int, int, int]:
    """The face box in output pixels as MuseTalk's preprocessing draws it: the face's width, from the
    chin (plus v1.5's small margin) up to as far above the lower nose bridge as the chin is below it,
    so the crop's masked lower half is the face from the nose down."""
    lm = avatar.landmarks
    left, _, right, chin = face_extent(lm)
    eyes = (lm.p("left_eye_inner")[1] + lm.p("right_eye_inner")[1]) / 2
    bridge = eyes + (lm.p("nose_tip")[1] - eyes) * 2 / 3  # where the 68-point scheme's point 29 sits
    top = 2 * bridge - chin
    bottom = chin + 0.04 * (chin - top)
    (left, top), (right, bottom) = base.to_output((left, top)), base.to_output((right, bottom))
    box = np.clip([left, top, right, bottom], 0, base.size).astype(int)
    return tuple(int(v) for v in box)


def blend_mask(width: int, height: int) -> np.ndarray:
    """(height, width, 1) weights of the generated face: its lower half only (what MuseTalk redraws),
    an ellipse over mouth and jaw feathered towards the box edges, standing in for the face-parsing
    mask of the official blending."""
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(mask, (width // 2, int(height * 0.7)), (int(width * 0.42), int(height * 0.27)), 0, 0, 360, 1.0, -1)
    mask[: height // 2] = 0.0
    return cv2.GaussianBlur(mask, (0, 0), max(width, height) * 0.04)[..., None]


class MuseTalkFace:
    """``network`` is the exported per-frame model (inputs ``latents``, ``audio``; output ``frame``),
    ``encoder`` the VAE encoder (``image`` → ``latents``), ``whisper`` the audio encoder (``mel`` →
    ``features``), ``base`` the avatar's warp, whose head it draws on."""

    def __init__(self, network: Network, base: WarpFace, encoder: Network, whisper: Network,
                 batch_size: int = 16, loop_s: float = 2.0) -> None:
        self.network, self.whisper = network, whisper
        self.base = base
        self.fps = base.fps
        self.size = base.size
        self.batch_size = batch_size
        self.box = musetalk_box(base.avatar, base)
        x0, y0, x1, y1 = self.box
        self.mask = blend_mask(x1 - x0, y1 - y0)
        self.loop = [base.frame(i / self.fps) for i in range(max(1, round(loop_s * self.fps)))]
        crops = np.stack([cv2.resize(f[y0:y1, x0:x1], (FACE, FACE), interpolation=cv2.INTER_LANCZOS4)
                          for f in self.loop])
        images = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), np.float32) / 255.0
        self.latents = np.concatenate([encoder(image=images[i : i + batch_size])
                                       for i in range(0, len(images), batch_size)])
        self._features = ChunkFeatures(lambda chunk: whisper_features(
            resample(chunk.speech.audio, chunk.speech.sample_rate), self.whisper))

    @classmethod
    def from_folder(cls, folder: Path, base: WarpFace, network: Network | None = None,
                    providers: list[str] | None = None, **options) -> MuseTalkFace:
        """On the ONNX models ``export/musetalk.py`` wrote to ``folder`` (``network``, e.g. on Triton,
        in place of its per-frame model)."""
        folder = Path(folder)
        network = network or OnnxNetwork(folder / FRAME_ONNX, providers)
        return cls(network, base, OnnxNetwork(folder / ENCODER_ONNX, providers),
                   OnnxNetwork(folder / AUDIO_ONNX, providers), **options)

    def _loop_index(self, i: int) -> int:
        n = len(self.loop)
        j = i % (2 * n)
        return j if j < n else 2 * n - 1 - j

    def _index(self, t: float) -> int:
        return int(np.floor(t * self.fps + 1e-6))

    def generate(self, indices: list[int], audio: np.ndarray) -> list[np.ndarray]:
        """One network call: video frames ``indices`` of the loop, their mouths drawn from ``audio``
        (B, 50, 384)."""
        loop = [self._loop_index(i) for i in indices]
        faces = self.network(latents=self.latents[loop], audio=np.ascontiguousarray(audio, np.float32))
        faces = (np.clip(faces, 0.0, 1.0) * 255.0).round().astype(np.uint8).transpose(0, 2, 3, 1)
        return [self.paste(self.loop[j], face) for j, face in zip(loop, faces)]

    def paste(self, frame: np.ndarray, face: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        region = frame[y0:y1, x0:x1].astype(np.float32)
        resized = cv2.resize(face, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        out = frame.copy()
        out[y0:y1, x0:x1] = (region * (1 - self.mask) + resized * self.mask).round().astype(np.uint8)
        return out

    def frame(self, t: float, chunk: SpokenChunk | None = None, chunk_t: float | None = None,
              mood: Mood | None = None) -> np.ndarray:
        """The ``Face`` of one frame: the loop's head at ``t`` with the mouth MuseTalk draws from
        ``chunk``'s audio at ``chunk_t`` (default ``t``); a batch of one. The loop was encoded once, so
        it keeps its own blinks and gaze and shows no ``mood``."""
        i = self._index(t)
        if chunk is None:
            return self.loop[self._loop_index(i)].copy()
        audio = frame_windows(self._features(chunk), self.fps, [self._index(t if chunk_t is None else chunk_t)])
        return self.generate([i], audio)[0]

    def frames(self, chunk: SpokenChunk) -> Iterator[np.ndarray]:
        """Every frame of ``chunk`` at ``fps``, from the loop's start, ``batch_size`` frames per
        network call."""
        n = frame_count(chunk.speech.duration, self.fps)
        windows = frame_windows(self._features(chunk), self.fps, np.arange(n))
        for start in range(0, n, self.batch_size):
            indices = list(range(start, min(start + self.batch_size, n)))
            yield from self.generate(indices, windows[start : start + len(indices)])

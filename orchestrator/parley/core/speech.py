"""The payloads of speech: audio with the phonemes the voice timed, and the mouth over time.

These carry arrays and curves; they travel between stages inside the process (or to Triton), not to
the page as they are. Times are in seconds from the start of the audio they describe.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class PhonemeTiming:
    """One phoneme as the TTS model itself timed it (Piper: samples per phoneme id)."""

    phoneme: str
    start: float
    end: float


@dataclass(frozen=True)
class VisemeSpan:
    """A viseme (Oculus / Ready Player Me name, without the ``viseme_`` prefix) held from start to end."""

    viseme: str
    start: float
    end: float
    weight: float


@dataclass
class VisemeTrack:
    """The mouth over time: discrete spans plus blend curves sampled at ``fps``.

    ``curves`` maps a blendshape name (``viseme_aa`` … and ARKit ``jawOpen``, ``mouthFunnel`` …) to one
    value per frame; frame ``i`` is at ``i / fps`` seconds. Viseme weights in a frame sum to at most 1,
    so a renderer can mix morph targets linearly without the mouth over-opening.
    """

    fps: float
    duration: float
    spans: list[VisemeSpan]
    curves: dict[str, list[float]]

    def to_dict(self) -> dict:
        return {
            "fps": self.fps,
            "duration": self.duration,
            "visemes": [asdict(s) for s in self.spans],
            "curves": self.curves,
        }


@dataclass
class SpeechSegment:
    """Audio for one chunk of text, with the phoneme timings the voice model produced for it."""

    text: str
    audio: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    phonemes: list[PhonemeTiming]
    index: int = 0

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass
class SpokenChunk:
    """A speech segment with its viseme track: what the face and the media clock consume."""

    speech: SpeechSegment
    visemes: VisemeTrack

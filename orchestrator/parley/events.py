"""Typed events that flow between the stages of a turn.

Every stage consumes one of these and produces the next; they are plain dataclasses so they can be
logged, serialised to JSON (``to_dict``) or sent over a wire (Triton, a data channel) unchanged.
Times are in seconds relative to the start of the audio they describe unless a name says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class TextDelta:
    """A piece of the LLM's reply as it streams: one or more tokens of text."""

    text: str


@dataclass(frozen=True)
class TextChunk:
    """A sentence or clause ready to be spoken, ``index`` from 0 in the reply."""

    text: str
    index: int


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
    """A speech segment with its viseme track: what the face stage and the media clock consume."""

    speech: SpeechSegment
    visemes: VisemeTrack


@dataclass
class TurnTimings:
    """Milliseconds from the moment the turn's text input arrived."""

    llm_first_token_ms: float | None = None
    first_chunk_ms: float | None = None
    first_audio_ms: float | None = None
    llm_done_ms: float | None = None
    total_ms: float | None = None
    audio_seconds: float = 0.0
    tokens: int = 0
    interrupted: bool = False
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(out.pop("extra"))
        return out


@dataclass
class TurnDone:
    """The last event of a turn: what was said (only what was delivered, if interrupted) and when."""

    user: str
    reply: str
    timings: TurnTimings


# --- speech in ---------------------------------------------------------------------------------
# Times are seconds on the input audio clock (0 = first sample received).


@dataclass(frozen=True)
class SpeechStarted:
    """The caller started speaking at ``start``; detected at ``at`` (``min_speech_ms`` later)."""

    start: float
    at: float


@dataclass(frozen=True)
class SpeechPaused:
    """Voice stopped at ``end``; the endpoint fires if it stays quiet for the hangover."""

    start: float
    end: float


@dataclass(frozen=True)
class SpeechEnded:
    """The endpoint: the caller spoke from ``start`` to ``end`` (last voiced chunk); fired at ``at``."""

    start: float
    end: float
    at: float


@dataclass(frozen=True)
class PartialTranscript:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Utterance:
    """A final transcript of what the caller said between ``start`` and ``end``.

    ``asr_ms`` is the time from the endpoint to this transcript: zero when the decode started at the
    pause (speculatively) finished within the hangover. ``decode_ms`` is what the decode itself took.
    """

    text: str
    start: float
    end: float
    endpoint_at: float
    asr_ms: float
    decode_ms: float
    speculative: bool


@dataclass(frozen=True)
class BargeIn:
    """The caller spoke over the avatar: its turn was cancelled ``cancel_ms`` after detection."""

    at: float
    cancel_ms: float
    heard: str  # what the caller had heard of the reply before cutting in


@dataclass(frozen=True)
class TurnFailed:
    """A turn stopped on an engine failure; the session goes on listening."""

    user: str
    error: str


@dataclass(frozen=True)
class UtteranceIgnored:
    utterance: Utterance
    reason: str

"""The events of the loop, each with its type tag and wire form: the page's protocol is defined here.

``Event.wire()`` is the JSON object sent to the page (``{"type": ..., fields}``); the tag is the
class's ``type``. Payloads (audio, viseme tracks) live in ``parley.core.speech`` and travel inside
the process; an event that carries one says in ``wire()`` what of it the page gets. Times are seconds
on the input audio clock (0 = first sample received) unless a name says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

from parley.core.speech import VisemeTrack


class Event:
    """Something that happened in a session; ``wire()`` is how the page hears of it."""

    type: ClassVar[str]

    def wire(self) -> dict:
        return {"type": self.type, **{f.name: getattr(self, f.name) for f in fields(self)}}


# --- reply ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta(Event):
    """A piece of the LLM's reply as it streams: one or more tokens of text."""

    type: ClassVar[str] = "text_delta"
    text: str


@dataclass(frozen=True)
class TextChunk(Event):
    """A sentence or clause ready to be spoken, ``index`` from 0 in the reply."""

    type: ClassVar[str] = "text_chunk"
    text: str
    index: int


@dataclass
class TurnTimings:
    """Milliseconds from the moment the turn's text input arrived (a payload of ``TurnDone``)."""

    llm_started_ms: float | None = None  # the shared LLM took the reply (after any queue)
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
class TurnDone(Event):
    """The last event of a turn: what was delivered (only up to the cut, if interrupted) and when.

    ``grounding`` says how the reply kept to what the persona knows: ``answered`` (every clause
    backed), ``declined`` (nothing known matched: the decline line, without the LLM), ``quoted`` (the
    sentence of the knowledge that answers, or a passage that only touched on the question, said as
    written without the LLM), ``unsure`` (the same, matched by meaning alone: said with the persona's
    ``unsure`` line), ``replaced``
    (a clause stated something unbacked: the passage or the decline line was said instead),
    ``added`` (the reply used none of its passages: the best one was said after it), or ``off``.
    """

    type: ClassVar[str] = "turn_done"
    user: str
    reply: str
    timings: TurnTimings
    grounding: str = "off"
    # The persona's passages the reply was grounded in, as (text, source) pairs: kept in a call's
    # recording transcript, not sent to the page.
    passages: tuple[tuple[str, str], ...] = ()

    def wire(self) -> dict:
        return {"type": self.type, "user": self.user, "reply": self.reply, "timings": self.timings.to_dict(),
                "grounding": self.grounding}


@dataclass(frozen=True)
class TurnFailed(Event):
    """A turn stopped on an engine failure; the session goes on listening."""

    type: ClassVar[str] = "turn_failed"
    user: str
    error: str


# --- speech in -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeechStarted(Event):
    """The caller started speaking at ``start``; detected at ``at`` (``min_speech_ms`` later)."""

    type: ClassVar[str] = "speech_started"
    start: float
    at: float


@dataclass(frozen=True)
class SpeechPaused(Event):
    """Voice stopped at ``end``; the endpoint fires if it stays quiet for the hangover."""

    type: ClassVar[str] = "speech_paused"
    start: float
    end: float


@dataclass(frozen=True)
class SpeechResumed(Event):
    """Voice again at ``at`` after a pause shorter than the hangover: the caller went on."""

    type: ClassVar[str] = "speech_resumed"
    at: float


@dataclass(frozen=True)
class SpeechEnded(Event):
    """The endpoint: the caller spoke from ``start`` to ``end`` (last voiced chunk); fired at ``at``."""

    type: ClassVar[str] = "speech_ended"
    start: float
    end: float
    at: float


@dataclass(frozen=True)
class PartialTranscript(Event):
    type: ClassVar[str] = "partial_transcript"
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class PauseTranscript(Event):
    """What the caller said up to the first pause, decoded before the endpoint: what a reply can
    start on. The endpoint may still come with other words, or the caller may go on."""

    type: ClassVar[str] = "pause_transcript"
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class EarlyReply(Event):
    """A reply started on a ``PauseTranscript``: ``used`` when the endpoint confirmed the same
    words (it plays at once), ``dropped`` (with the reason) when the caller went on or said otherwise."""

    type: ClassVar[str] = "early_reply"
    outcome: str
    reason: str = ""


@dataclass(frozen=True)
class Utterance(Event):
    """A final transcript of what the caller said between ``start`` and ``end``.

    ``asr_ms`` is the time from the endpoint to this transcript: zero when the decode started at the
    pause (speculatively) finished within the hangover. ``decode_ms`` is what the decode itself took.
    """

    type: ClassVar[str] = "utterance"
    text: str
    start: float
    end: float
    endpoint_at: float
    asr_ms: float
    decode_ms: float
    speculative: bool


@dataclass(frozen=True)
class UtteranceIgnored(Event):
    type: ClassVar[str] = "utterance_ignored"
    utterance: Utterance
    reason: str

    def wire(self) -> dict:
        return {"type": self.type, "text": self.utterance.text, "reason": self.reason}


@dataclass(frozen=True)
class Typed(Event):
    """The caller typed ``text`` (answered like an utterance)."""

    type: ClassVar[str] = "typed"
    text: str


@dataclass(frozen=True)
class BargeIn(Event):
    """The caller spoke over the avatar: its turn was cancelled ``cancel_ms`` after detection."""

    type: ClassVar[str] = "barge_in"
    at: float
    cancel_ms: float
    heard: str  # what the caller had heard of the reply before cutting in


# --- live ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkPlaying(Event):
    """A chunk's first audio left the server: a page that draws the face starts its mouth now."""

    type: ClassVar[str] = "chunk_playing"
    text: str
    visemes: VisemeTrack

    def wire(self) -> dict:
        return {"type": self.type, "text": self.text, **self.visemes.to_dict()}


@dataclass(frozen=True)
class FaceChanged(Event):
    """The degradation ladder moved the face to ``rung`` (lipsync, warp2d, browser3d, audio) for ``reason``."""

    type: ClassVar[str] = "face_changed"
    rung: str
    reason: str


@dataclass(frozen=True)
class Problem(Event):
    """Something the caller should know went wrong (a bad message, a failed session)."""

    type: ClassVar[str] = "problem"
    error: str

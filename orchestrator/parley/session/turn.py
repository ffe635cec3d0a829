"""One turn of a voice session, and the phases it goes through.

    HELD ──confirmed──► LIVE ──an engine failed──► FAILED
      │                   │                          │
      ▼                   └──settled─────────────────┴──► SETTLED
    DROPPED

- HELD: an early reply, started on the words heard at the caller's first pause; everything it makes
  is kept back until the endpoint confirms those words (then LIVE) or not (then DROPPED).
- DROPPED: an early reply never confirmed; whatever it still makes is thrown away, and it leaves
  nothing: no audio, caption or history.
- LIVE: replying; what it makes is delivered as it comes.
- FAILED: an engine failed mid-reply; the apology is said, and the turn leaves no history.
- SETTLED: its exchange is in the history (what the caller heard of it), or was dropped.

A turn is settled (or dropped) once: when the next turn starts, the caller cuts in, the history is
reset, or the session ends. Only ``Turn.move`` changes the phase, and only along the arrows above.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field

from parley.core.events import TurnDone, Utterance
from parley.core.interfaces import CancelToken


class Phase(enum.Enum):
    HELD = "held"
    LIVE = "live"
    FAILED = "failed"
    SETTLED = "settled"
    DROPPED = "dropped"


_MOVES = {
    Phase.HELD: {Phase.LIVE, Phase.DROPPED},
    Phase.LIVE: {Phase.FAILED, Phase.SETTLED},
    Phase.FAILED: {Phase.SETTLED},
    Phase.SETTLED: set(),
    Phase.DROPPED: set(),
}


@dataclass
class Turn:
    user_text: str
    utterance: Utterance | None  # None for typed text
    token: CancelToken
    mark: int  # the output position when the turn began
    phase: Phase = Phase.LIVE
    task: asyncio.Task | None = None
    delivered: list[str] = field(default_factory=list)  # the text of each chunk handed to the output
    held: list = field(default_factory=list)  # HELD: its events (or the error it failed with), in order
    started: float = field(default_factory=time.perf_counter)
    head_start_ms: float = 0.0  # how long an early reply had been running when it was confirmed

    @property
    def over(self) -> bool:
        """Settled or dropped: nothing more is committed for it."""
        return self.phase in (Phase.SETTLED, Phase.DROPPED)

    def retire(self) -> None:
        """Over without committing anything: a held reply is dropped, any other settled as it is."""
        if not self.over:
            self.move(Phase.DROPPED if self.phase is Phase.HELD else Phase.SETTLED)

    def move(self, to: Phase) -> None:
        if to not in _MOVES[self.phase]:
            raise RuntimeError(f"a turn cannot go from {self.phase.value} to {to.value}")
        self.phase = to

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    @property
    def replying(self) -> bool:
        """Making a reply the caller will hear: live, running, not cut off."""
        return self.phase is Phase.LIVE and self.running and not self.token.cancelled


def voice_timings(utterance: Utterance, done: TurnDone, head_start_ms: float = 0.0) -> dict[str, float]:
    """Stage shares of end of speech → first audio; they add up to the total. An early reply had
    ``head_start_ms`` of work done when the endpoint's transcript came: its first audio waits only
    for what was left (and plays no sooner than the transcript)."""
    t = done.timings
    vad_end_ms = (utterance.endpoint_at - utterance.end) * 1000
    out = {
        "speech_start_s": utterance.start,
        "speech_end_s": utterance.end,
        "vad_end_ms": vad_end_ms,
        "asr_ms": utterance.asr_ms,
        "asr_decode_ms": utterance.decode_ms,
        "asr_speculative": float(utterance.speculative),
        "early_reply": float(head_start_ms > 0),
        "early_reply_head_start_ms": head_start_ms,
    }
    if t.first_audio_ms is not None and t.first_chunk_ms is not None:
        out["llm_first_chunk_ms"] = max(0.0, t.first_chunk_ms - head_start_ms)
        out["tts_first_audio_ms"] = max(0.0, t.first_audio_ms - head_start_ms) - out["llm_first_chunk_ms"]
        out["end_of_speech_to_first_audio_ms"] = vad_end_ms + utterance.asr_ms + max(0.0, t.first_audio_ms
                                                                                       - head_start_ms)
    return {k: round(v, 3) for k, v in out.items()}

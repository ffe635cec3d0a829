"""The last hour of turns, minute by minute, for the operator's charts: how long callers waited for
the first audio and how the replies kept to the persona's knowledge.

Fed by ``Metrics.turn_done`` with the same turns Prometheus counts, so the page and a dashboard over
``/metrics`` tell the same story. Held in memory only (a restart starts an empty hour), at most
``MINUTES`` minutes and ``PER_MINUTE`` waits a minute, so it cannot grow with traffic.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from parley.core.events import TurnDone

MINUTES = 60
PER_MINUTE = 1000  # waits kept a minute; a busier minute's percentiles come from its first thousand


@dataclass
class _Minute:
    start: int  # seconds since the epoch, a multiple of 60
    waits_ms: list[float] = field(default_factory=list)
    grounding: Counter[str] = field(default_factory=Counter)


def waited_ms(done: TurnDone) -> float | None:
    """What the caller waited for the first audio: from the end of their speech for a spoken turn,
    from the text's arrival for a typed one."""
    timings = done.timings.to_dict()
    spoken = timings.get("end_of_speech_to_first_audio_ms")
    return spoken if spoken is not None else timings.get("first_audio_ms")


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest rank: a value that was measured, never one between two."""
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)]


class Trends:
    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self._minutes: deque[_Minute] = deque(maxlen=MINUTES)

    def turn_done(self, done: TurnDone) -> None:
        start = int(self.clock()) // 60 * 60
        if not self._minutes or self._minutes[-1].start != start:
            self._minutes.append(_Minute(start))
        minute = self._minutes[-1]
        wait = waited_ms(done)
        if wait is not None and len(minute.waits_ms) < PER_MINUTE:
            minute.waits_ms.append(wait)
        minute.grounding[done.grounding] += 1

    def last_hour(self) -> list[dict]:
        """One entry per minute of the last ``MINUTES``, the oldest first, quiet minutes included:
        its start, turns, the wait's p50 and p95 (None without a turn) and replies by grounding."""
        now = int(self.clock()) // 60 * 60
        kept = {m.start: m for m in self._minutes}
        out = []
        for start in range(now - (MINUTES - 1) * 60, now + 60, 60):
            minute = kept.get(start, _Minute(start))
            waits = sorted(minute.waits_ms)
            out.append({"start": start, "turns": sum(minute.grounding.values()),
                        "wait_p50_ms": _percentile(waits, 0.5) if waits else None,
                        "wait_p95_ms": _percentile(waits, 0.95) if waits else None,
                        "grounding": dict(minute.grounding)})
        return out

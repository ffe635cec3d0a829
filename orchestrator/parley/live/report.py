"""One call's report: how it went, turn by turn, without the words.

Assembled only from what a call already has: the session's events as the call reads them, and, when
the call ends, its own counters (frames, the ladder's changes, the face's fallbacks) and the shared
engines' fallbacks. No stage of the loop knows of it. No word the caller or the avatar said is kept:
what was said may be kept only with the caller's consent, and a report is written for every call.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone

from parley.core.events import BargeIn, EarlyReply, Event, TurnDone, TurnFailed, UtteranceIgnored

SCHEMA = 1
# How a call ended: the caller hung up, the connection was lost (the peer failed, or its microphone
# fell silent), its session failed, another offer of the same session replaced it, the server
# stopped after draining (or at once), the operator ended it.
ENDINGS = ("hung_up", "connection_lost", "failed", "replaced", "drained", "server_stopped", "ended_by_operator")


def turn_entry(at_s: float, event: TurnDone | TurnFailed) -> dict:
    """A finished or failed turn as a report keeps it: when, its input, outcome, grounding and timings
    (or its error); never its words."""
    if isinstance(event, TurnFailed):
        return {"at_s": at_s, "outcome": "failed", "error": event.error}
    timings = event.timings.to_dict()
    return {"at_s": at_s, "input": "spoken" if "asr_ms" in timings else "typed",
            "outcome": "interrupted" if event.timings.interrupted else "answered", "grounding": event.grounding,
            "timings": timings}


def utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


class CallReport:
    def __init__(self, call_id: str, avatar: str, persona: str, failovers: Callable[[], dict[str, int]],
                 write: Callable[[dict], object]) -> None:
        """``failovers()``: each served stage's switches to its backup so far (shared by every call, so
        the report keeps those during this call); ``write(report)`` keeps the finished report."""
        self.call_id = call_id
        self.avatar = avatar
        self.persona = persona
        self._failovers = failovers
        self._failovers_before = failovers()
        self._write = write
        self.started = time.time()
        self._t0 = time.perf_counter()
        self.turns: list[dict] = []
        self.counts: Counter[str] = Counter()

    def _since_start(self, perf_time: float | None = None) -> float:
        return round((perf_time if perf_time is not None else time.perf_counter()) - self._t0, 3)

    def observe(self, event: Event) -> None:
        """One of the session's events; those that say how a turn went are kept, minus their words."""
        if isinstance(event, (TurnDone, TurnFailed)):
            self.turns.append(turn_entry(self._since_start(), event))
        elif isinstance(event, BargeIn):
            self.counts["barge_ins"] += 1
        elif isinstance(event, EarlyReply):
            self.counts[f"early_replies_{event.outcome}"] += 1
        elif isinstance(event, UtteranceIgnored):
            self.counts["utterances_ignored"] += 1

    def finish(self, ended: str, stats: dict, rung_changes: list[tuple[float, str, str]],
               face_failures: int) -> dict:
        """The report of a call that ended (``ended``: one of ``ENDINGS``), given the call's ``stats()``,
        its ladder's changes (perf_counter time, rung, reason) and the frames its network could not draw."""
        if ended not in ENDINGS:
            raise ValueError(f"a call ends as one of {', '.join(ENDINGS)}, not {ended!r}")
        now = time.time()
        duration = now - self.started
        now_failovers = self._failovers()
        fallbacks = {stage: count - self._failovers_before.get(stage, 0) for stage, count in now_failovers.items()}
        return {
            "schema": SCHEMA, "call": self.call_id, "started": utc(self.started), "ended": utc(now),
            "duration_s": round(duration, 3), "how": ended, "avatar": self.avatar, "persona": self.persona,
            "turns": self.turns, "counts": dict(self.counts),
            "fallbacks": {"engines": {s: n for s, n in fallbacks.items() if n}, "face_frames": face_failures},
            "ladder": {"rung": stats["rung"], "changes": [{"at_s": self._since_start(t), "rung": rung, "reason": why}
                                                          for t, rung, why in rung_changes]},
            "video": {"frames_sent": stats["frames_sent"], "frames_skipped": stats["frames_skipped"],
                      "fps": round(stats["frames_sent"] / duration, 2) if duration > 0 else 0.0},
            "audio_seconds_sent": round(stats["audio_seconds_sent"], 3),
        }

    async def end(self, ended: str, stats: dict, rung_changes: list[tuple[float, str, str]],
                  face_failures: int) -> None:
        """Finish the report and hand it to ``write`` off the event loop (a slow disk delays no call)."""
        report = self.finish(ended, stats, rung_changes, face_failures)
        await asyncio.get_running_loop().run_in_executor(None, self._write, report)

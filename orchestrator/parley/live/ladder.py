"""The face's degradation ladder: when the machine cannot keep up, the face gets cheaper, never the voice.

    lipsync    the portrait with its mouth drawn by a lip-sync network (face.engine: wav2lip, musetalk)
    warp2d     the portrait warped by the visemes on the server, sent as video
    browser3d  no video: the browser draws the 3D avatar from the viseme events
    audio      voice and captions only

The ladder starts on the best rung the stack has (lipsync only with a network). Lateness is measured
where the media is made: a video frame finished after its slot, an audio packet sent after its time.
Either kind mostly late for ``step_down_after_s`` steps down a rung; on time for ``step_up_after_s`` steps back
up. A step up that has to be undone soon after doubles the wait before the next one, so a machine
that is just too slow for a rung settles below it instead of flapping.
"""

from __future__ import annotations

from collections import deque

from parley.config import LadderConfig

RUNGS = ("lipsync", "warp2d", "browser3d", "audio")
MAX_UP_WAIT_S = 300.0


class Ladder:
    def __init__(self, config: LadderConfig, top: str = "warp2d") -> None:
        self.config = config
        self.best = top  # the best 2D rung of this stack: where a caller's "2d" view goes back to
        self.top = RUNGS.index(top)
        self.bottom = max(RUNGS.index(config.lowest), self.top) if config.enabled else self.top
        self.index = self.top
        # Per kind of media: (time, late) over the step-down window.
        self._samples: dict[str, deque[tuple[float, bool]]] = {}
        self._since: float | None = None  # when the current rung began (or lateness was last seen)
        self._last_late: float | None = None
        self._up_wait = config.step_up_after_s
        self._stepped_up_at: float | None = None
        self.changes: list[tuple[float, str, str]] = []  # (time, rung, reason)

    @property
    def rung(self) -> str:
        return RUNGS[self.index]

    @property
    def degraded(self) -> bool:
        """Below the best rung allowed because of lateness (not because the caller chose so)."""
        return self.index > self.top

    def set_top(self, top: str, now: float) -> str | None:
        """The caller picked a view: that rung is the best the ladder returns to."""
        self.top = RUNGS.index(top)
        if self.index < self.top:
            return self._move(self.top, now, "the caller chose it")
        return None

    def observe(self, kind: str, late_ms: float, now: float) -> str | None:
        """One unit of ``kind`` media (audio, video) and its lateness; the new rung when this changes it."""
        late = late_ms > self.config.late_ms
        if self._since is None:
            self._since = now
        samples = self._samples.setdefault(kind, deque())
        samples.append((now, late))
        while samples[0][0] < now - self.config.step_down_after_s:
            samples.popleft()
        if late:
            self._last_late = now
        window_full = now - self._since >= self.config.step_down_after_s
        late_share = sum(s[1] for s in samples) / len(samples)
        if window_full and late_share > 0.5 and self.index < self.bottom:
            if self._stepped_up_at is not None and now - self._stepped_up_at < 2 * self._up_wait:
                self._up_wait = min(self._up_wait * 2, MAX_UP_WAIT_S)
            return self._move(self.index + 1, now, f"{late_share:.0%} of {kind} late by over "
                                                   f"{self.config.late_ms:.0f} ms")
        on_time_since = max(self._since, self._last_late or self._since)
        if self.index > self.top and now - on_time_since >= self._up_wait:
            self._stepped_up_at = now
            return self._move(self.index - 1, now, f"on time for {now - on_time_since:.0f} s")
        return None

    def _move(self, index: int, now: float, reason: str) -> str:
        self.index = index
        self._samples.clear()
        self._since = now
        self._last_late = None
        self.changes.append((now, self.rung, reason))
        return self.rung

"""Who gets a call: at most ``max_sessions`` at once, a limit on how fast one address asks, and none
while the server drains.

A caller turned away is told when to come back (HTTP 503, or 429 for a hasty address, with
Retry-After), never left waiting on a server that cannot serve them at full quality.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

# A draining server's callers are sent back soon: behind a proxy their retry reaches another node once
# this one's readiness has failed, and a lone server that restarts is back within a minute or so.
DRAINING_RETRY_S = 5


@dataclass(frozen=True)
class Refusal:
    reason: str  # "full", "rate" or "draining"
    message: str
    retry_after_s: int


class Admission:
    def __init__(self, max_sessions: int, per_minute: float, name: str = "the avatar", clock=time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.per_minute = per_minute
        self.name = name
        self.burst = max(3, int(per_minute // 6))  # ten seconds' worth at once, and at least three
        self.clock = clock
        self.draining = False
        self._buckets: dict[str, tuple[float, float]] = {}  # address → (tokens, when)
        self.refused: dict[str, int] = {"full": 0, "rate": 0, "draining": 0}

    def check(self, live: int, address: str | None = None) -> Refusal | None:
        """Whether one more call fits with ``live`` held; with ``address``, also whether that address
        may start another so soon (asked when a session is created, not again at its offer)."""
        if self.draining:
            return self._refuse("draining", "this server is shutting down and takes no new calls; "
                                            "please try again in a moment", DRAINING_RETRY_S)
        if live >= self.max_sessions:
            calls = "one call" if live == 1 else f"{live} calls"
            return self._refuse("full", f"{self.name} is in {calls} right now, as many as this server can "
                                        "serve well; please try again in a minute", 30)
        if address is None:
            return None
        now = self.clock()
        tokens, then = self._buckets.get(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.per_minute / 60)
        if tokens < 1:
            wait = math.ceil((1 - tokens) * 60 / self.per_minute)
            self._buckets[address] = (tokens, now)
            return self._refuse("rate", f"too many new calls from this address; try again in {wait} s", wait)
        self._buckets[address] = (tokens - 1, now)
        self._forget_idle(now)
        return None

    def _refuse(self, reason: str, message: str, retry_after_s: int) -> Refusal:
        self.refused[reason] += 1
        return Refusal(reason, message, retry_after_s)

    def _forget_idle(self, now: float) -> None:
        """Addresses whose bucket has refilled hold no state (the table cannot grow without bound)."""
        if len(self._buckets) > 1024:
            full_after = self.burst * 60 / self.per_minute
            self._buckets = {a: (t, w) for a, (t, w) in self._buckets.items() if now - w < full_after}

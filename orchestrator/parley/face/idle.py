"""A face's life between words, as functions of its clock: blinks, saccades, nods while the caller
speaks, a smile for the greeting.

Everything is drawn from one seeded random schedule made up front, so a frame depends only on its
time and its mood (``parley.core.mood``): the same ``t`` is the same face, as the tests need, and
nothing here ever waits or holds a frame back.
"""

from __future__ import annotations

import numpy as np

from parley.core.mood import Mood

HORIZON_S = 600.0  # the schedule repeats after this, unnoticeably
BLINK_S = 0.16
SACCADE_S = 0.04  # an eye's jump takes tens of milliseconds; then it holds still
NOD_S = 0.7
GREETING_S = (0.3, 1.6, 0.6)  # the smile's rise, hold and fall


def _bump(x: float) -> float:
    """0 → 1 → 0 over x in [0, 1], smooth at both ends."""
    return float(np.sin(np.pi * x) ** 2) if 0.0 < x < 1.0 else 0.0


def _ease(x: float) -> float:
    x = float(np.clip(x, 0.0, 1.0))
    return x * x * (3 - 2 * x)


class Idle:
    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.blink_times = np.cumsum(rng.uniform(2.5, 5.5, size=int(HORIZON_S / 2.5) + 1))
        # Fixations of 1–3 s. Most look back at the camera (the caller's eyes), a little off it; the
        # rest glance aside, more across than up or down, as eyes do in conversation.
        n = int(HORIZON_S) + 1
        self._saccades = np.cumsum(rng.uniform(1.0, 3.0, size=n))
        aside = rng.random(n) < 0.35
        angle, reach = rng.uniform(0.0, 2 * np.pi, n), rng.uniform(0.5, 1.0, n)
        glance = reach[:, None] * np.stack([np.cos(angle), 0.5 * np.sin(angle)], axis=1)
        self._targets = np.where(aside[:, None], glance, np.clip(rng.normal(0.0, 0.1, (n, 2)), -0.3, 0.3))
        self._targets[0] = 0.0  # a call begins looking at the caller
        self._nods = np.cumsum(rng.uniform(2.0, 4.5, size=int(HORIZON_S / 2.0) + 1)) - 1.0  # after the first words

    def blink(self, t: float) -> float:
        """Eyelid closure in [0, 1]: a brief blink every few seconds."""
        t %= HORIZON_S
        i = np.searchsorted(self.blink_times, t)
        near = min((abs(t - self.blink_times[j]) for j in (i - 1, i) if 0 <= j < len(self.blink_times)), default=1.0)
        return max(0.0, 1.0 - near / (BLINK_S / 2))

    def gaze(self, t: float) -> np.ndarray:
        """Where the eyes look, (across, up) in [-1, 1]: (0, 0) at the camera."""
        t %= HORIZON_S
        i = int(np.searchsorted(self._saccades, t))  # fixation i began at saccade i - 1
        current = self._targets[i]
        if i == 0:
            return current
        previous = self._targets[i - 1]
        return previous + (current - previous) * _ease((t - self._saccades[i - 1]) / SACCADE_S)

    def nod(self, t: float, mood: Mood | None) -> float:
        """How far down the head is in a nod, in [0, 1]: now and then while the caller speaks."""
        if mood is None or mood.listening_since is None or t < mood.listening_since:
            return 0.0
        since = (t - mood.listening_since) % HORIZON_S
        i = int(np.searchsorted(self._nods, since, side="right")) - 1
        return _bump((since - self._nods[i]) / NOD_S) if i >= 0 else 0.0

    def smile(self, t: float, mood: Mood | None) -> float:
        """The greeting's smile, in [0, 1]."""
        if mood is None or mood.greeted_at is None:
            return 0.0
        since = t - mood.greeted_at
        rise, hold, fall = GREETING_S
        if since < 0 or since > rise + hold + fall:
            return 0.0
        return _ease(since / rise) if since < rise + hold else 1.0 - _ease((since - rise - hold) / fall)

"""What a face shows of the conversation: whether the caller is speaking, and when the avatar greeted.

The call tells its face every event it tells the page (``Mood.after``); the face reads the mood when
it draws a frame. Times are on the face's own clock (the ``t`` of ``Face.frame``), so a frame is a
function of its time and its mood alone, and a test can draw any moment again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from parley.core.events import Event, FaceChanged, SpeechEnded, SpeechStarted


@dataclass(frozen=True)
class Mood:
    listening_since: float | None = None  # the caller has been speaking since then
    greeted_at: float | None = None  # the call began then: the avatar smiles its greeting

    def after(self, event: Event, t: float) -> Mood:
        """This mood once ``event`` has happened at ``t``."""
        if isinstance(event, SpeechStarted) and self.listening_since is None:
            return replace(self, listening_since=t)
        if isinstance(event, SpeechEnded):
            return replace(self, listening_since=None)
        # The page shows the persona's greeting when the call's channel opens, which the call marks
        # with the face's first rung.
        if isinstance(event, FaceChanged) and event.reason == "start":
            return replace(self, greeted_at=t)
        return self

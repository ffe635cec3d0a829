"""A reply's voice: clauses → TTS (in the stage's threads) → the voice's padding cut → visemes → ``SpokenChunk``.

The speaker takes clauses from generation through ``parley.core.clauses.Clauses`` and speaks them in
order, one at a time, each as soon as the one before is made. Once the turn is cancelled it speaks
no more but drains the channel to its end, so the LLM's thread is never left blocked on it. A voice
that fails cancels the turn (the LLM stops too) and its error is raised once the channel has ended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from parley.core.clauses import Clauses
from parley.core.events import TurnTimings
from parley.core.interfaces import Cancelled, CancelToken, TTSEngine, VisemeMapper
from parley.core.speech import SpokenChunk
from parley.core.threads import StageExecutor
from parley.speak.pauses import tighten


class Speaker:
    def __init__(self, tts: Callable[[], TTSEngine], visemes: Callable[[], VisemeMapper],
                 threads: StageExecutor) -> None:
        self._tts = tts  # loaded on first use
        self._visemes = visemes
        self.threads = threads

    async def speak(self, text: str, index: int, cancel: CancelToken | None = None) -> SpokenChunk:
        """One clause as it is played: synthesised, its padding cut to a natural pause, with its visemes."""
        speech = await self.threads.run(self._tts().synthesize, text, cancel)
        speech.index = index
        speech = tighten(speech)
        return SpokenChunk(speech, self._visemes().track(speech))

    async def run(self, clauses: Clauses, cancel: CancelToken, timings: TurnTimings, ms: Callable[[], float],
                  deliver: Callable[[SpokenChunk], Awaitable[None]]) -> None:
        """Speak every clause of ``clauses`` until it ends, handing each chunk to ``deliver``."""
        try:
            failure = None
            while (chunk := await clauses.next()) is not None:
                if cancel.cancelled:
                    continue  # drain: the LLM thread may be waiting to put the next clause
                if timings.first_chunk_ms is None:
                    timings.first_chunk_ms = ms()
                try:
                    spoken = await self.speak(chunk.text, chunk.index, cancel)
                except Cancelled:
                    continue
                except Exception as exc:  # stop the LLM too, then report the failure
                    failure = failure or exc
                    cancel.cancel(f"speech synthesis failed: {exc}")
                    continue
                finally:
                    clauses.first_spoken()
                if cancel.cancelled:
                    continue
                if timings.first_audio_ms is None:
                    timings.first_audio_ms = ms()
                timings.audio_seconds += spoken.speech.duration
                await deliver(spoken)
            if failure is not None:
                raise failure
        finally:
            clauses.stop()  # an LLM paused for the first clause, or blocked on a full channel, goes on

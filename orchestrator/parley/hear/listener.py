"""Speech in: 16 kHz frames → VAD → endpoint → Whisper → transcripts.

    frames ─► SileroVAD (32 ms chunks) ─► Endpointer ─► SpeechStarted / SpeechPaused / SpeechEnded
                                                            │ partial decodes while speaking
                                                            │ speculative decode at the pause
                                                            ▼
                                              PartialTranscript, Utterance

The decode that starts at the first silent chunk usually finishes during the hangover, so the
transcript is ready the moment the endpoint fires. If the caller speaks again before the endpoint,
that decode is simply not used. One decode runs at a time (the CPU has few cores to share).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator

import numpy as np

from parley.config import ASRConfig, VADConfig
from parley.events import PartialTranscript, SpeechEnded, SpeechPaused, SpeechStarted, Utterance
from parley.hear.audio import SAMPLE_RATE
from parley.hear.endpoint import Endpointer
from parley.hear.vad import CHUNK, CHUNK_SECONDS, SileroVAD
from parley.interfaces import ASREngine

_MIN_PARTIAL_SECONDS = 0.5


class _AudioBuffer:
    """The recent input, addressed by absolute sample index; old audio is dropped by ``keep_last``."""

    def __init__(self) -> None:
        self._data = np.zeros(SAMPLE_RATE * 4, np.float32)
        self._len = 0
        self.start = 0  # absolute index of the first sample held
        self.end = 0  # absolute index one past the last sample received

    def append(self, frame: np.ndarray) -> None:
        if self._len + len(frame) > len(self._data):
            grown = np.zeros(max(2 * len(self._data), self._len + len(frame)), np.float32)
            grown[: self._len] = self._data[: self._len]
            self._data = grown
        self._data[self._len : self._len + len(frame)] = frame
        self._len += len(frame)
        self.end += len(frame)

    def keep_last(self, samples: int) -> None:
        if self._len > 2 * samples:  # amortise the move
            self._data[:samples] = self._data[self._len - samples : self._len]
            self.start += self._len - samples
            self._len = samples

    def between(self, lo: int, hi: int) -> np.ndarray:
        lo, hi = max(lo, self.start) - self.start, min(hi, self.end) - self.start
        return self._data[lo:hi].copy()


class _Decode:
    """A speculative decode of speech up to ``end``, requested at ``started_audio`` on the input clock."""

    task: asyncio.Task

    def __init__(self, end: float, started_audio: float) -> None:
        self.end = end
        self.started_audio = started_audio
        self.started_wall = time.perf_counter()
        self.claimed = False  # the endpoint came with no speech after this pause: use the result


class Listener:
    def __init__(self, vad: SileroVAD, asr: ASREngine, vad_config: VADConfig, asr_config: ASRConfig,
                 prompt: str | None = None, wait_for_partials: bool = False) -> None:
        self.vad = vad
        self.asr = asr
        self.vad_config = vad_config
        self.asr_config = asr_config
        self.prompt = prompt
        self.partials = asr_config.partial_interval_ms > 0
        # For input fed faster than real time (a file): decode each partial before reading on, so
        # partials come at the same audio times as live, and never delay the final decode.
        self.wait_for_partials = wait_for_partials
        self.endpointer = Endpointer(vad_config, CHUNK_SECONDS)

    async def listen(self, frames: AsyncIterable[np.ndarray]) -> AsyncIterator:
        """Yield speech events and transcripts for a stream of 16 kHz mono float32 frames."""
        self.vad.reset()
        self.endpointer.reset()
        asr_lock = asyncio.Lock()  # one decode at a time for this stream

        async def transcribe(audio: np.ndarray, wanted=lambda: True) -> tuple[str, float] | None:
            """Decode unless, by the time the ASR is free, the result is no longer wanted."""
            async with asr_lock:
                if not wanted():
                    return None
                t0 = time.perf_counter()
                text = await asyncio.to_thread(self.asr.transcribe, audio, self.prompt)
                return text, (time.perf_counter() - t0) * 1000

        out: asyncio.Queue = asyncio.Queue()
        done = object()
        pad = int(self.vad_config.pad_ms / 1000 * SAMPLE_RATE)
        lookback = pad + int(self.vad_config.min_speech_ms / 1000 * SAMPLE_RATE) + 2 * CHUNK
        buffer = _AudioBuffer()
        chunks_seen = 0
        utterance = 0
        speculative: _Decode | None = None
        partial: asyncio.Task | None = None
        last_partial = 0.0
        tasks: set[asyncio.Task] = set()

        def spawn(coro) -> asyncio.Task:
            task = asyncio.ensure_future(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            return task

        def audio_between(start: float, end: float) -> np.ndarray:
            """Copied out at once: the buffer drops old audio as soon as speech has ended."""
            return buffer.between(int(start * SAMPLE_RATE) - pad, int(end * SAMPLE_RATE) + CHUNK)

        async def partial_decode(n: int, audio: np.ndarray, start: float, end: float) -> None:
            current = lambda: n == utterance and self.endpointer.in_speech  # noqa: E731
            result = await transcribe(audio, wanted=current)
            if result and result[0] and current():
                await out.put(PartialTranscript(result[0], start, end))

        async def final(ended: SpeechEnded, spec: _Decode | None, audio: np.ndarray) -> Utterance:
            endpoint_wall = time.perf_counter()
            if spec is not None:
                text, decode_ms = await spec.task
                # On the input clock the endpoint came (ended.at - started_audio) after the decode began.
                endpoint_wall = spec.started_wall + (ended.at - spec.started_audio)
                used = True
            else:
                text, decode_ms = await transcribe(audio)
                used = False
            asr_ms = max(0.0, (time.perf_counter() - endpoint_wall) * 1000)
            return Utterance(text, ended.start, ended.end, ended.at, asr_ms, decode_ms, used)

        def on_event(event, now: float) -> None:
            nonlocal utterance, speculative, last_partial
            if isinstance(event, SpeechStarted):
                utterance += 1
                last_partial = event.start
                out.put_nowait(event)
            elif isinstance(event, SpeechPaused):
                if self.asr_config.speculative:
                    # Superseded if the caller speaks on and pauses again before this one starts.
                    decode = _Decode(event.end, now)
                    audio = audio_between(event.start, event.end)
                    decode.task = spawn(transcribe(audio, wanted=lambda: speculative is decode or decode.claimed))
                    speculative = decode
            elif isinstance(event, SpeechEnded):
                out.put_nowait(event)
                audio = audio_between(event.start, event.end)
                # The speculative decode is good if no speech came after the pause that started it.
                spec = speculative if speculative is not None and speculative.end == event.end else None
                if spec is not None:
                    spec.claimed = True
                out.put_nowait(spawn(final(event, spec, audio)))
                speculative = None

        async def consume() -> None:
            nonlocal chunks_seen, partial, last_partial
            try:
                async for frame in frames:
                    buffer.append(frame.astype(np.float32, copy=False))
                    for prob in self.vad.feed(frame):
                        chunks_seen += 1
                        now = chunks_seen * CHUNK / SAMPLE_RATE
                        for event in self.endpointer.update(prob, now):
                            on_event(event, now)
                    now = buffer.end / SAMPLE_RATE
                    if self.endpointer.in_speech:
                        interval = self.asr_config.partial_interval_ms / 1000
                        start = self.endpointer.speech_start
                        # No partial during a pause: the ASR should be free for the speculative decode.
                        if (self.partials and not self.endpointer.paused and (partial is None or partial.done())
                                and now - last_partial >= interval and now - start >= _MIN_PARTIAL_SECONDS):
                            last_partial = now
                            audio = audio_between(start, now)
                            partial = spawn(partial_decode(utterance, audio, start, now))
                            if self.wait_for_partials:
                                await partial
                    else:
                        # Outside speech, keep only what a start detected now would reach back to.
                        buffer.keep_last(lookback)
                now = buffer.end / SAMPLE_RATE
                for event in self.endpointer.flush(now):
                    on_event(event, now)
            finally:
                out.put_nowait(done)

        feeder = spawn(consume())
        try:
            while (item := await out.get()) is not done:
                if isinstance(item, asyncio.Future):
                    item = await item
                yield item
            await feeder  # surface a failure of the frame source
        finally:
            pending = list(tasks)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


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

from parley.audio_in import SAMPLE_RATE
from parley.config import ASRConfig, Settings, VADConfig
from parley.endpoint import Endpointer
from parley.engines import engine_class
from parley.events import PartialTranscript, SpeechEnded, SpeechPaused, SpeechStarted, Utterance
from parley.stages import ASREngine
from parley.vad import CHUNK, CHUNK_SECONDS, SileroVAD

_MIN_PARTIAL_SECONDS = 0.5


class _Decode:
    """One decode of [start, end] of the input, started at ``started_audio`` on the input clock."""

    def __init__(self, task: asyncio.Task, utterance: int, end: float, started_audio: float) -> None:
        self.task = task
        self.utterance = utterance
        self.end = end
        self.started_audio = started_audio
        self.started_wall = time.perf_counter()


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
        self._asr_lock = asyncio.Lock()

    async def _transcribe(self, audio: np.ndarray) -> tuple[str, float]:
        async with self._asr_lock:
            t0 = time.perf_counter()
            text = await asyncio.to_thread(self.asr.transcribe, audio, self.prompt)
            return text, (time.perf_counter() - t0) * 1000

    async def listen(self, frames: AsyncIterable[np.ndarray]) -> AsyncIterator:
        """Yield speech events and transcripts for a stream of 16 kHz mono float32 frames."""
        self.vad.reset()
        self.endpointer.reset()
        out: asyncio.Queue = asyncio.Queue()
        done = object()
        pad = int(self.vad_config.pad_ms / 1000 * SAMPLE_RATE)
        buffer = np.zeros(0, np.float32)
        buffer_start = 0  # input sample index of buffer[0]
        received = 0
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
            lo = max(int(start * SAMPLE_RATE) - pad, buffer_start) - buffer_start
            hi = min(int(end * SAMPLE_RATE) + CHUNK, received) - buffer_start
            return buffer[lo:hi].copy()

        async def partial_decode(n: int, start: float, end: float) -> None:
            text, _ = await self._transcribe(audio_between(start, end))
            if text and n == utterance and self.endpointer.in_speech:
                await out.put(PartialTranscript(text, start, end))

        async def final(ended: SpeechEnded, n: int, spec: _Decode | None) -> Utterance:
            endpoint_wall = time.perf_counter()
            if spec is not None and spec.utterance == n and spec.end == ended.end:
                text, decode_ms = await spec.task
                # On the input clock the endpoint came (ended.at - started_audio) after the decode began.
                endpoint_wall = spec.started_wall + (ended.at - spec.started_audio)
                used = True
            else:
                text, decode_ms = await self._transcribe(audio_between(ended.start, ended.end))
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
                    task = spawn(self._transcribe(audio_between(event.start, event.end)))
                    speculative = _Decode(task, utterance, event.end, now)
            elif isinstance(event, SpeechEnded):
                out.put_nowait(event)
                out.put_nowait(spawn(final(event, utterance, speculative)))
                speculative = None

        async def consume() -> None:
            nonlocal buffer, buffer_start, received, chunks_seen, partial, last_partial
            try:
                async for frame in frames:
                    buffer = np.concatenate([buffer, frame.astype(np.float32, copy=False)])
                    received += len(frame)
                    for prob in self.vad.feed(frame):
                        chunks_seen += 1
                        now = chunks_seen * CHUNK / SAMPLE_RATE
                        for event in self.endpointer.update(prob, now):
                            on_event(event, now)
                    now = received / SAMPLE_RATE
                    if self.endpointer.in_speech:
                        interval = self.asr_config.partial_interval_ms / 1000
                        start = self.endpointer.speech_start
                        if (self.partials and (partial is None or partial.done())
                                and now - last_partial >= interval and now - start >= _MIN_PARTIAL_SECONDS):
                            last_partial = now
                            partial = spawn(partial_decode(utterance, start, now))
                            if self.wait_for_partials:
                                await partial
                    else:
                        # Outside speech only the padding before a possible start is worth keeping.
                        keep = max(pad, CHUNK * 4)
                        if len(buffer) > 2 * keep:
                            buffer_start += len(buffer) - keep
                            buffer = buffer[-keep:]
                now = received / SAMPLE_RATE
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


def build_listener(settings: Settings, store, wait_for_partials: bool = False) -> Listener:
    stack = settings.stack
    asr = engine_class("asr", stack.asr.engine).from_settings(settings, store)
    vad = SileroVAD.from_settings(settings, store)
    prompt = ", ".join(settings.persona.vocabulary) or None
    return Listener(vad, asr, stack.vad, stack.asr, prompt, wait_for_partials)

"""Speech in: 16 kHz frames → VAD → endpoint → Whisper → transcripts.

    frames ─► SileroVAD (32 ms chunks) ─► Endpointer ─► SpeechStarted / SpeechPaused / SpeechEnded
                                                            │ partial decodes while speaking
                                                            │ speculative decode at the pause
                                                            ▼
                                      PartialTranscript, PauseTranscript, Utterance

The decode that starts at the first silent chunk usually finishes during the hangover, so the
transcript is ready the moment the endpoint fires; it is also announced at once (PauseTranscript),
so a reply can start before the endpoint. Its words also set how long the endpoint waits
(``parley.hear.turn_end``): a sentence that trails off is given time to go on, and is not announced.
Where an end-of-turn model is configured, it reads the words too, after they are announced, and
can hold a pause whose words only look finished; the endpoint waits for its reading.
If the caller speaks again before the endpoint, that decode is simply not used. One decode runs at a
time (the CPU has few cores to share).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator

import numpy as np

from parley.config import ASRConfig, TurnTakingConfig, VADConfig
from parley.core.audio import SAMPLE_RATE
from parley.core.events import (
    PartialTranscript,
    PauseTranscript,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    Utterance,
)
from parley.core.interfaces import ASREngine, EndOfTurnModel
from parley.core.threads import StageExecutor
from parley.hear.endpoint import Endpointer
from parley.hear.turn_end import looks_finished
from parley.hear.vad import CHUNK, CHUNK_SECONDS, SileroVAD

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
                 prompt: str | None = None, wait_for_partials: bool = False,
                 executor: StageExecutor | None = None, turn_taking: TurnTakingConfig | None = None,
                 turn_model: EndOfTurnModel | None = None) -> None:
        self.vad = vad
        self.asr = asr
        self.executor = executor or StageExecutor("asr", 1)  # the ASR's threads (shared when given)
        self.vad_config = vad_config
        self.asr_config = asr_config
        self.prompt = prompt
        self.partials = asr_config.partial_interval_ms > 0
        # For input fed faster than real time (a file): decode each partial before reading on, so
        # partials come at the same audio times as live, and never delay the final decode.
        self.wait_for_partials = wait_for_partials
        # The endpoint waits on the pause's words only where they are decoded at the pause.
        adaptive = turn_taking if turn_taking is not None and asr_config.speculative else None
        self.endpointer = Endpointer(vad_config, CHUNK_SECONDS, adaptive)
        self.turn_model = turn_model if self.endpointer.adaptive else None
        self.turn_model_min = turn_taking.turn_model_min if turn_taking is not None else 0.0

    async def listen(self, frames: AsyncIterable[np.ndarray]) -> AsyncIterator:
        """Yield speech events and transcripts for a stream of 16 kHz mono float32 frames."""
        self.vad.reset()
        self.endpointer.reset()
        stream = _Stream(self)
        feeder = stream.spawn(stream.consume(frames))
        try:
            while (item := await stream.out.get()) is not _DONE:
                if isinstance(item, asyncio.Future):
                    item = await item
                yield item
            await feeder  # surface a failure of the frame source
        finally:
            await stream.cancel()


_DONE = object()
EVENTS = 64


class _Stream:
    """One stream's state while a listener reads it: the audio, the decodes in flight, the output."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.endpointer = listener.endpointer
        # Events, and futures of transcripts, in order. Full (the reader is behind), reading the frames
        # waits: a live call's microphone queue then drops its oldest frames (``parley.live.call``).
        self.out: asyncio.Queue = asyncio.Queue(maxsize=EVENTS)
        self._pending: list = []  # what the last frame produced, until there is room for it
        self.asr_lock = asyncio.Lock()  # one decode at a time for this stream
        vad = listener.vad_config
        self.pad = int(vad.pad_ms / 1000 * SAMPLE_RATE)
        self.lookback = self.pad + int(vad.min_speech_ms / 1000 * SAMPLE_RATE) + 2 * CHUNK
        self.buffer = _AudioBuffer()
        self.chunks_seen = 0
        self.utterance = 0  # counts speech starts: a partial decode of an older one is stale
        self.speculative: _Decode | None = None
        self.judging: asyncio.Task | None = None  # the pause's decode, judged when it is done
        self.partial: asyncio.Task | None = None
        self.last_partial = 0.0
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def cancel(self) -> None:
        pending = list(self.tasks)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def transcribe(self, audio: np.ndarray, wanted=lambda: True) -> tuple[str, float] | None:
        """Decode unless, by the time the ASR is free, the result is no longer wanted."""
        async with self.asr_lock:
            if not wanted():
                return None
            t0 = time.perf_counter()
            listener = self.listener
            text = await listener.executor.run(listener.asr.transcribe, audio, listener.prompt)
            return text, (time.perf_counter() - t0) * 1000

    def audio_between(self, start: float, end: float) -> np.ndarray:
        """Copied out at once: the buffer drops old audio as soon as speech has ended."""
        return self.buffer.between(int(start * SAMPLE_RATE) - self.pad, int(end * SAMPLE_RATE) + CHUNK)

    async def partial_decode(self, n: int, audio: np.ndarray, start: float, end: float) -> None:
        current = lambda: n == self.utterance and self.endpointer.in_speech  # noqa: E731
        result = await self.transcribe(audio, wanted=current)
        if result and result[0] and current():
            await self.out.put(PartialTranscript(result[0], start, end))

    async def final(self, ended: SpeechEnded, spec: _Decode | None, audio: np.ndarray) -> Utterance:
        endpoint_wall = time.perf_counter()
        if spec is not None:
            text, decode_ms = await spec.task
            # On the input clock the endpoint came (ended.at - started_audio) after the decode began.
            endpoint_wall = spec.started_wall + (ended.at - spec.started_audio)
        else:
            text, decode_ms = await self.transcribe(audio)
        asr_ms = max(0.0, (time.perf_counter() - endpoint_wall) * 1000)
        return Utterance(text, ended.start, ended.end, ended.at, asr_ms, decode_ms, spec is not None)

    async def announce(self, decode: _Decode, paused: SpeechPaused) -> None:
        """Say what the pause's decode heard, while the pause lasts, so a reply can start on it, and
        let the endpointer wait longer when it trails off (then it is not announced)."""
        result = await decode.task
        current = lambda: self.speculative is decode and self.endpointer.paused  # noqa: E731
        if not current():
            return
        text = result[0] if result else None
        finished = looks_finished(text)
        if text and finished is not False:
            # The early reply starts now; should the model doubt the words, it is only kept waiting
            # for the endpoint, and dropped if the caller goes on.
            await self.out.put(PauseTranscript(text, paused.start, paused.end))
        if finished is not False and text and self.listener.turn_model is not None:
            finished = await self.doubt(text, finished)  # the verdict stays "pending" meanwhile
            if not current():
                return
        self.endpointer.judge({None: "unknown", True: "finished", False: "unfinished"}[finished])

    async def doubt(self, text: str, finished: bool | None) -> bool | None:
        """The end-of-turn model's veto of words the rules would let end the turn."""
        listener = self.listener
        # On the ASR's thread: the pause's decode is done, and the next one waits for this.
        async with self.asr_lock:
            probability = await listener.executor.run(listener.turn_model.probability, text)
        return False if probability < listener.turn_model_min else finished

    def on_event(self, event, now: float) -> None:
        if isinstance(event, SpeechStarted):
            self.utterance += 1
            self.last_partial = event.start
            self._pending.append(event)
        elif isinstance(event, SpeechPaused):
            if self.listener.asr_config.speculative:
                # Superseded if the caller speaks on and pauses again before this one starts.
                decode = _Decode(event.end, now)
                audio = self.audio_between(event.start, event.end)
                decode.task = self.spawn(self.transcribe(
                    audio, wanted=lambda: self.speculative is decode or decode.claimed))
                self.speculative = decode
                self.endpointer.judge("pending")
                self.judging = self.spawn(self.announce(decode, event))
        elif isinstance(event, SpeechResumed):
            self._pending.append(event)  # what was heard at the pause is not the whole question
        elif isinstance(event, SpeechEnded):
            self._pending.append(event)
            audio = self.audio_between(event.start, event.end)
            # The speculative decode is good if no speech came after the pause that started it.
            spec = self.speculative if self.speculative is not None and self.speculative.end == event.end else None
            if spec is not None:
                spec.claimed = True
            self._pending.append(self.spawn(self.final(event, spec, audio)))
            self.speculative = None

    async def maybe_partial(self) -> None:
        """A partial decode of the speech so far, if one is due and the ASR is not busy with one."""
        listener, endpointer = self.listener, self.endpointer
        now = self.buffer.end / SAMPLE_RATE
        start = endpointer.speech_start
        # No partial during a pause: the ASR should be free for the speculative decode.
        if (listener.partials and not endpointer.paused and (self.partial is None or self.partial.done())
                and now - self.last_partial >= listener.asr_config.partial_interval_ms / 1000
                and now - start >= _MIN_PARTIAL_SECONDS):
            self.last_partial = now
            self.partial = self.spawn(self.partial_decode(self.utterance, self.audio_between(start, now), start, now))
            if listener.wait_for_partials:
                await self.partial

    async def consume(self, frames: AsyncIterable[np.ndarray]) -> None:
        try:
            async for frame in frames:
                self.buffer.append(frame.astype(np.float32, copy=False))
                for prob in self.listener.vad.feed(frame):
                    self.chunks_seen += 1
                    now = self.chunks_seen * CHUNK / SAMPLE_RATE
                    for event in self.endpointer.update(prob, now):
                        self.on_event(event, now)
                await self._pass_on()
                if self.listener.wait_for_partials and self.judging is not None:
                    # Input faster than real time: the pause's words are judged at the audio time
                    # they would be live, before the endpoint can pass them by.
                    await self.judging
                    self.judging = None
                if self.endpointer.in_speech:
                    await self.maybe_partial()
                else:
                    # Outside speech, keep only what a start detected now would reach back to.
                    self.buffer.keep_last(self.lookback)
            now = self.buffer.end / SAMPLE_RATE
            for event in self.endpointer.flush(now):
                self.on_event(event, now)
            await self._pass_on()
            await self.out.put(_DONE)
        except BaseException:  # failed or cancelled: a reader still learns that the stream ended
            if self.out.full():
                self.out.get_nowait()
            self.out.put_nowait(_DONE)
            raise

    async def _pass_on(self) -> None:
        for item in self._pending:
            await self.out.put(item)
        self._pending.clear()

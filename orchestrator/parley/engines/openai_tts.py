"""Any TTS server that speaks OpenAI's ``/v1/audio/speech`` (Kokoro-FastAPI, openedai-speech, Speaches,
LocalAI, ...). Such a server returns audio without timings, so each clause is aligned here, against
an in-process reference voice, before it is handed on: the face gets the same exact-looking
phoneme timings as from Piper or hibari, and a clause's mouth is ready before its sound plays.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np

from parley.config import TTSConfig
from parley.core.audio import Resampler
from parley.core.interfaces import CancelToken
from parley.core.speech import SpeechSegment
from parley.engines.openai_client import OpenAIClient, ServerError
from parley.speak.align import Aligner


def decode_audio(data: bytes, rate: int, where: str) -> np.ndarray:
    """Mono float32 audio at ``rate`` from an encoded file's bytes (WAV, MP3, FLAC, Opus, ...)."""
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                raise ServerError(f"{where} sent no audio")
            resampler = Resampler(rate)
            blocks = [resampler.convert(frame) for frame in container.decode(container.streams.audio[0])]
            blocks.append(resampler.convert(None))
    except av.error.FFmpegError as exc:
        raise ServerError(f"{where} sent {len(data)} bytes that are not audio ({exc})") from None
    return np.concatenate(blocks)


class OpenAITTSEngine:
    label = "OpenAI-compatible TTS server"

    def __init__(self, config: TTSConfig, aligner: Aligner) -> None:
        self.config = config
        self.api = OpenAIClient("tts", config)
        self.where = self.api.where
        self.aligner = aligner
        self._requests = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tts-request")
        self.sample_rate = 24000  # OpenAI's own rate; a server that sends another is resampled to it

    @classmethod
    def from_settings(cls, settings, store) -> "OpenAITTSEngine":
        return cls(settings.stack.tts, Aligner.of(settings, store))

    def ready(self) -> bool:
        return self.api.ready()

    def synthesize(self, text: str, cancel: CancelToken | None = None) -> SpeechSegment:
        cancel = cancel or CancelToken()
        # The request runs on a thread of its own so that a cancelled turn returns at once, even while
        # the server has not begun to answer; that request then ends when it does, or at tts.timeout_s.
        finished = threading.Event()
        cancel.on_cancel(finished.set)
        request = self._requests.submit(self._fetch, text, cancel)
        request.add_done_callback(lambda _: finished.set())
        finished.wait()
        cancel.raise_if_cancelled()
        audio = decode_audio(request.result(), self.sample_rate, f"tts: the TTS server at {self.where}")
        return self.aligner.align(audio, self.sample_rate, text, cancel)

    def _fetch(self, text: str, cancel: CancelToken) -> bytes:
        c = self.config
        try:
            with self.api.client.audio.speech.with_streaming_response.create(
                model=c.model, voice=c.voice, input=text, response_format="wav",
                **({"speed": 1.0 / c.length_scale} if c.length_scale else {}),
            ) as response:
                cancel.on_cancel(response.close)  # ends a read waiting on the server
                return b"".join(response.iter_bytes())
        except Exception as exc:
            if cancel.cancelled:
                return b""
            raise self.api.error(exc, "speech") from None

    def close(self) -> None:
        self._requests.shutdown(wait=False, cancel_futures=True)
        self.api.close()

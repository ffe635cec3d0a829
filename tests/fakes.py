"""Shared fakes: engines that obey the stage Protocols but are scripted, deterministic and fast.

Unit tests assemble a whole voice session from them through ``parley.assemble`` (the same code the
server and the CLI use), so turn taking, barge-in and the continuation rule are tested without
models; tests/integration runs the same paths on the real ones.
"""

from __future__ import annotations

import re
import time
import zlib

import numpy as np

from parley.assemble import Engines, Parley
from parley.config.persona import Grounding
from parley.core.audio import SAMPLE_RATE
from parley.core.speech import PhonemeTiming, SpeechSegment
from parley.hear.vad import CHUNK
from parley.reply.words import STOPWORDS
from parley.speak.visemes import CoarticulatedVisemes


class ScriptedLLM:
    """Replies with ``reply``, word by word, ``delay`` seconds a word; records the prompts it got."""

    context_size = 100_000

    def __init__(self, reply: str, delay: float = 0.0) -> None:
        self.pieces = reply.split(" ")
        self.delay = delay
        self.produced = 0
        self.prompts = []
        self.prefilled = []

    def count_tokens(self, text):
        return len(text.split())

    def prefill(self, prompt):
        self.prefilled.append(prompt)

    def stream(self, prompt, max_tokens, cancel):
        self.prompts.append(prompt)
        for i, word in enumerate(self.pieces[:max_tokens]):
            if cancel.cancelled:
                return
            time.sleep(self.delay)
            self.produced += 1
            yield word if i == 0 else " " + word


class ToneTTS:
    """A tone 0.1 s a word, with one phoneme over all of it; fails on ``fail_on``."""

    sample_rate = SAMPLE_RATE

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.spoken = []

    def synthesize(self, text, cancel=None):
        time.sleep(self.delay)
        if cancel is not None:
            cancel.raise_if_cancelled()
        if self.fail_on and self.fail_on in text:
            raise RuntimeError("voice model crashed")
        self.spoken.append(text)
        n = 1600 * len(text.split())
        audio = (0.1 * np.sin(np.arange(n) / 5)).astype(np.float32)
        return SpeechSegment(text, audio, self.sample_rate, [PhonemeTiming("a", 0.0, n / self.sample_rate)])


class LoudnessVAD:
    """Speech wherever the audio is loud: one probability per 32 ms chunk, as Silero gives."""

    def __init__(self, threshold: float = 0.05) -> None:
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, np.float32)

    def feed(self, audio: np.ndarray) -> list[float]:
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        n = len(self._pending) // CHUNK
        chunks, self._pending = self._pending[: n * CHUNK].reshape(n, CHUNK), self._pending[n * CHUNK:]
        return [0.95 if np.sqrt(np.mean(c ** 2)) > self.threshold else 0.02 for c in chunks]


class ScriptedASR:
    """Hears, in audio of about ``seconds`` long, the text given for that length (the nearest one):
    a test speaks utterances of clearly different lengths (the listener adds a little padding) and
    knows what each one says."""

    sample_rate = SAMPLE_RATE

    def __init__(self, by_length: dict[float, str], delay: float = 0.0) -> None:
        self.by_length = by_length
        self.delay = delay
        self.heard: list[float] = []

    def transcribe(self, audio, prompt=None):
        time.sleep(self.delay)
        seconds = len(audio) / SAMPLE_RATE
        self.heard.append(seconds)
        return self.by_length[min(self.by_length, key=lambda s: abs(s - seconds))]


class ScriptedTurnModel:
    """An end-of-turn model that gives each text its scripted probability (1.0 for any other)."""

    def __init__(self, probabilities: dict[str, float]) -> None:
        self.probabilities = probabilities
        self.read: list[str] = []

    def probability(self, text):
        self.read.append(text)
        return self.probabilities.get(text.strip(), 1.0)


class SenseEmbedder:
    """Texts → unit vectors where words of one sense (a set in ``senses``) share a direction and any
    other word has its own: meaning as the tests decide it, without a network."""

    def __init__(self, senses: list[set[str]]) -> None:
        self.senses = senses
        self.calls = 0

    def _direction(self, word: str) -> int:
        for i, sense in enumerate(self.senses):
            if word in sense:
                return i
        return len(self.senses) + zlib.crc32(word.encode()) % 997

    def embed(self, texts: list[str], remember: bool = False) -> np.ndarray:
        self.calls += 1
        rows = np.zeros((len(texts), len(self.senses) + 997), np.float32)
        for row, text in zip(rows, texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                if word not in STOPWORDS:
                    row[self._direction(word)] += 1.0
            row /= max(np.linalg.norm(row), 1e-9)
        return rows


def speech(seconds: float) -> np.ndarray:
    """Loud enough for ``LoudnessVAD``: a tone."""
    n = int(seconds * SAMPLE_RATE)
    return (0.3 * np.sin(np.arange(n) * 2 * np.pi * 220 / SAMPLE_RATE)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


def ungrounded(settings):
    """``settings`` whose persona answers freely: for tests of the plumbing, where a scripted reply's
    words are not the point (grounding has its own tests)."""
    persona = settings.persona.model_copy(update={"grounding": Grounding(mode="off")})
    return settings.model_copy(update={"persona": persona})


def fake_parley(settings, llm=None, tts=None, asr=None, grounded: bool = False, **engines) -> Parley:
    """A Parley whose engines are these fakes (a VAD by loudness unless one is given); its persona
    answers freely unless ``grounded``: a scripted reply does not come from the persona's facts. The
    pause's words are judged by the word rules alone unless a ``turn_model`` is given, and the knowledge
    is searched by words alone unless an ``embedder`` is given."""
    settings = settings if grounded else ungrounded(settings)
    given = {"llm": llm, "tts": tts, "asr": asr, "visemes": CoarticulatedVisemes(), "vad": LoudnessVAD, **engines}
    given = {k: v for k, v in given.items() if v is not None}
    return Parley(settings, engines=Engines.given(settings, **{"turn_model": None, "embedder": None, **given}))

"""Whisper through faster-whisper (CTranslate2), in-process on the CPU.

Whisper was trained on 30 s windows, and faster-whisper always encodes one, however short the
speech: on 2 cores that is ~290 ms of encoder for a 2 s question. CTranslate2's encoder takes
shorter inputs, so an utterance is encoded in a window of ``asr.window_s`` (or the next multiple
of it that holds the audio). Short windows make Whisper repeat itself (with the persona's
vocabulary as prompt, 8 of 33 questions came back said twice at 10 s), so the short path decodes
with a light repetition penalty, caps the transcript's length by the audio's and drops sentences
said again. Measured on 33 Piper-spoken questions (2 cores, tiny.en, one run, same audio): with
the campus guide's prompt a 10 s window decodes in 109 ms at 4.2 % WER, a 30 s one in 351 ms at
3.4 % (faster-whisper's own path: 357 ms, 4.0 %); without a prompt 95 ms at 4.5 % against 348 ms
at 3.4 %. Piper's sampling noise moves these by about a point from run to run. Longer audio,
and multilingual models asked to detect the language, take faster-whisper's own path.
"""

from __future__ import annotations

import re

import numpy as np
from ctranslate2 import StorageView
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from parley.config import ASRConfig
from parley.core.audio import SAMPLE_RATE
from parley.core.threads import all_cores_but_one
from parley.speak.align import Words

FULL_WINDOW_FRAMES = 3000  # Whisper's 30 s of 10 ms feature frames
MAX_TOKENS = 224  # half of Whisper's text context, the rest is for the prompt
REPETITION_PENALTY = 1.1
NO_SPEECH = 0.6  # Whisper's own threshold for a segment that is not speech


class FasterWhisperEngine:
    sample_rate = SAMPLE_RATE

    def __init__(self, model_dir, config: ASRConfig) -> None:
        self.config = config
        self.model = WhisperModel(
            str(model_dir), device="cpu", compute_type=config.compute_type,
            cpu_threads=config.threads or min(4, all_cores_but_one()),  # 4: CTranslate2's own default
        )
        multilingual = self.model.model.is_multilingual
        self._tokenizer = None
        if not multilingual or config.language:
            self._tokenizer = Tokenizer(self.model.hf_tokenizer, multilingual, task="transcribe",
                                        language=config.language if multilingual else "en")
            self._suppressed = get_suppressed_tokens(self._tokenizer, [-1])
        # CTranslate2 allocates and tunes on the first decode; pay for it now, not in the first turn.
        self.transcribe(np.zeros(self.sample_rate // 2, np.float32))

    @classmethod
    def from_settings(cls, settings, store) -> "FasterWhisperEngine":
        return cls(store.require(settings.stack.asr.model), settings.stack.asr)

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> str:
        audio = audio.astype(np.float32, copy=False)
        features = self.model.feature_extractor(audio)
        if self._tokenizer is None or features.shape[-1] > FULL_WINDOW_FRAMES - 100:
            return self._transcribe_windows(audio, prompt)
        previous = self._tokenizer.encode(" " + prompt.strip()) if prompt and prompt.strip() else []
        tokens = self.model.get_prompt(self._tokenizer, previous, without_timestamps=True)
        most = min(MAX_TOKENS, most_tokens(len(audio) / self.sample_rate))
        ids, score = self._decode(self._encode(features, self.config.window_s), tokens, most, self.config.beam_size)
        retry_below = self.config.retry_below
        if retry_below is not None and score < retry_below and self.config.retry_window_s > self.config.window_s:
            # Unsure: again in the window Whisper was trained on (slower, rarely needed).
            retry_ids, retry_score = self._decode(self._encode(features, self.config.retry_window_s), tokens, most,
                                                  self.config.retry_beam_size)
            if retry_score > score:
                ids = retry_ids
        return without_repeats(self._tokenizer.decode(ids).strip())

    def _encode(self, features: np.ndarray, window_s: float) -> StorageView:
        # A little quiet after the speech, as in training, then up to the next window step.
        step = round(window_s * 100)
        window = min(FULL_WINDOW_FRAMES, -(-(features.shape[-1] + 100) // step) * step)
        padded = np.zeros((1, features.shape[0], window), np.float32)
        padded[0, :, : features.shape[-1]] = features
        return self.model.model.encode(StorageView.from_array(padded), to_cpu=False)

    def _decode(self, encoded: StorageView, tokens: list[int], most: int, beam: int) -> tuple[list[int], float]:
        """The best sequence's ids and its mean log-probability per token. Without the 30 s of context
        Whisper was trained on, it tends to say the question twice (more so after a prompt): a light
        repetition penalty stops that (see above). CTranslate2 counts the prompt in max_length."""
        result = self.model.model.generate(encoded, [tokens], beam_size=beam, max_length=len(tokens) + most,
                                           repetition_penalty=REPETITION_PENALTY, suppress_blank=True,
                                           suppress_tokens=self._suppressed, return_scores=True)
        return result[0].sequences_ids[0], result[0].scores[0]

    def sentences(self, audio: np.ndarray) -> list[Words]:
        """What is said in a recording of any length, and when: Whisper's segments, with its own voice
        activity filter so silence and music give none."""
        segments, _ = self.model.transcribe(
            audio.astype(np.float32, copy=False), language=self.config.language, beam_size=self.config.beam_size,
            temperature=0.0, condition_on_previous_text=False, vad_filter=True,
        )
        return [Words(s.start, s.end, s.text.strip()) for s in segments
                if s.text.strip() and s.no_speech_prob < NO_SPEECH]

    def _transcribe_windows(self, audio: np.ndarray, prompt: str | None) -> str:
        segments, _ = self.model.transcribe(
            audio,
            language=self.config.language,
            beam_size=self.config.beam_size,
            # One pass at temperature 0: fallback re-decodes would double the latency of a turn.
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,  # the listener's VAD already cut the utterance
            initial_prompt=prompt or None,
        )
        return " ".join(s.text.strip() for s in segments).strip()


def most_tokens(seconds: float) -> int:
    """Speech is at most ~5 tokens a second: a longer "transcript" is Whisper repeating itself."""
    return 16 + int(8 * seconds)


# Whisper says a question again in other words as often as in the same ones ("Where is the gate?
# Where's the gate?"): sentences are compared with their contractions spelt out.
_CONTRACTIONS = [(re.compile(pattern), full) for pattern, full in (
    (r"\bcan't\b", "can not"), (r"\bwon't\b", "will not"), (r"n't\b", " not"), (r"'re\b", " are"),
    (r"'m\b", " am"), (r"'ll\b", " will"), (r"'ve\b", " have"), (r"'d\b", " would"), (r"'s\b", " is"),
)]


def _sentence_key(sentence: str) -> str:
    key = sentence.lower().replace("\u2019", "'")
    for pattern, full in _CONTRACTIONS:
        key = pattern.sub(full, key)
    return re.sub(r"\W+", " ", key).strip()


def without_repeats(text: str) -> str:
    """The transcript without sentences Whisper said again (or began again) after saying them once."""
    kept: list[str] = []
    seen: list[str] = []
    for sentence in re.split(r"(?<=[.?!])\s+", text):
        key = _sentence_key(sentence)
        if not key or any(earlier.startswith(key) for earlier in seen):
            continue
        seen.append(key)
        kept.append(sentence.strip())
    return " ".join(kept)

"""Spoken material made by a real voice, resampled to 16 kHz, silence, and a WER measure."""

import re

import numpy as np

from parley.core.audio import resample

CONTRACTIONS = {"where's": "where is", "what's": "what is", "it's": "it is", "i'm": "i am", "don't": "do not",
                "that's": "that is", "there's": "there is", "let's": "let us", "can't": "cannot",
                "you're": "you are", "i'll": "i will", "isn't": "is not", "how's": "how is"}


def normalise(text: str) -> list[str]:
    text = text.lower().replace("-", " ")
    words = re.findall(r"[a-z']+", text)
    out = []
    for w in words:
        out += CONTRACTIONS.get(w, w.strip("'")).split()
    return out


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words) after normalisation."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, 1):
        prev, d[0] = d.copy(), i
        for j, h in enumerate(hyp, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return int(d[-1]), len(ref)


def speak(tts, text: str) -> np.ndarray:
    seg = tts.synthesize(text)
    return resample(seg.audio, seg.sample_rate)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(16000 * seconds), np.float32)


def voiced_bounds(audio: np.ndarray, level: float = 0.02) -> tuple[float, float]:
    """First and last sample louder than ``level``, in seconds: the ground truth for the VAD."""
    idx = np.flatnonzero(np.abs(audio) > level)
    return idx[0] / 16000, (idx[-1] + 1) / 16000

"""A recording as speech the face can follow: decoded, its words found by Whisper, its phonemes aligned."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parley.core.audio import SAMPLE_RATE, decode_file, resample
from parley.core.errors import ParleyError
from parley.core.speech import SpeechSegment
from parley.speak.align import Aligner

RATE = 24000  # what speech.wav keeps of the recording: a voice loses nothing audible above 12 kHz


class RecordingError(ParleyError, ValueError):
    pass


def load_recording(path: Path | str, max_seconds: float) -> np.ndarray:
    """Mono float32 audio at ``RATE`` from any audio file, refusing one longer than ``max_seconds``
    before it is all in memory."""
    blocks, samples, limit = [], 0, int(max_seconds * RATE)
    for block in decode_file(path, RATE):
        samples += len(block)
        if samples > limit:
            raise RecordingError(f"{path}: longer than {max_seconds / 60:g} minutes; cut it into pieces (for example "
                                 f"`ffmpeg -i {Path(path).name} -f segment -segment_time 300 part%03d.wav`) "
                                 "and animate each")
        blocks.append(block)
    if not samples:
        raise RecordingError(f"{path}: holds no audio samples")
    return np.concatenate(blocks)


def timed_speech(audio: np.ndarray, asr, aligner: Aligner) -> SpeechSegment:
    """``audio`` (at ``RATE``) with the phonemes of what is said in it; silence and music get none."""
    sentences = asr.sentences(resample(audio, RATE, SAMPLE_RATE))
    return aligner.align_words(audio, RATE, sentences)

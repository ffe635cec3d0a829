"""Audio as every stage takes it: any file or stream, any rate and channel count → mono float32 at
the ASR's 16 kHz (or any rate asked for).

PyAV (FFmpeg) decodes and resamples, so WAV, FLAC, MP3, Opus, or a WebRTC track's frames all go
through the same ``Resampler``. Whisper needs exactly 16 kHz: a wrong ratio gives an empty
transcript with no warning, so resampling is done here once, for every source.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from parley.core.errors import ParleyError

SAMPLE_RATE = 16000


class AudioDecodeError(ParleyError, ValueError):
    """The input is not audio that can be decoded; the message names the file and the reason."""


class Resampler:
    """Converts av.AudioFrame of any format to float32 mono at ``rate`` (the ASR's 16 kHz unless
    told), keeping resampler state from frame to frame."""

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)

    def convert(self, frame: av.AudioFrame | None) -> np.ndarray:
        """Resample one frame (``None`` flushes what the resampler holds back)."""
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)


def resample(audio: np.ndarray, rate: int, to: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 audio at ``rate`` → ``to`` (for audio already in memory, e.g. TTS output)."""
    if rate == to:
        return audio.astype(np.float32, copy=False)
    frame = av.AudioFrame.from_ndarray(audio.astype(np.float32, copy=False)[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = Resampler(to)
    return np.concatenate([resampler.convert(frame), resampler.convert(None)])


def decode_file(path: Path | str, rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Yield the file's audio as mono float32 blocks at ``rate``, in order, as decoding proceeds."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioDecodeError(f"{path}: not an audio file that can be decoded ({exc})") from None
    with container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{path}: contains no audio stream")
        resampler = Resampler(rate)
        try:
            for frame in container.decode(container.streams.audio[0]):
                block = resampler.convert(frame)
                if block.size:
                    yield block
        except av.error.FFmpegError as exc:
            raise AudioDecodeError(f"{path}: audio is corrupt ({exc})") from None
        tail = resampler.convert(None)
        if tail.size:
            yield tail


def load_file(path: Path | str) -> np.ndarray:
    blocks = list(decode_file(path))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

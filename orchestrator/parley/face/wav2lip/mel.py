"""Wav2Lip's audio features, in numpy: the mel spectrogram its training used (16 kHz, 80 mels,
12.5 ms hop, pre-emphasis 0.97, Slaney mel scale and norm, dB normalised to [-4, 4]), and the
16-column window for each video frame."""

from __future__ import annotations

import numpy as np

from parley.core.audio import SAMPLE_RATE  # Wav2Lip's training rate, and the ASR's

N_FFT = 800
HOP = 200
N_MELS = 80
FMIN, FMAX = 55.0, 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB, MIN_LEVEL_DB, MAX_ABS = 20.0, -100.0, 4.0
WINDOW = 16  # mel columns per video frame (0.2 s)
MELS_PER_SECOND = SAMPLE_RATE / HOP  # 80


def _hz_to_mel(f):
    f = np.asarray(f, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    return np.where(f < min_log_hz, f / f_sp, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep)


def _mel_to_hz(m):
    m = np.asarray(m, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m < min_log_mel, m * f_sp, min_log_hz * np.exp(logstep * (m - min_log_mel)))


def mel_filters() -> np.ndarray:
    """(80, 401) Slaney-normalised triangular filters on the Slaney mel scale."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return (weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]).astype(np.float32)


_FILTERS = mel_filters()
_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def melspectrogram(wav: np.ndarray) -> np.ndarray:
    """(80, frames) features of 16 kHz mono audio, one column every 12.5 ms."""
    wav = np.asarray(wav, np.float32)
    emphasised = np.append(wav[:1], wav[1:] - PREEMPHASIS * wav[:-1])
    padded = np.pad(emphasised, N_FFT // 2, mode="reflect")
    n = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n]
    magnitude = np.abs(np.fft.rfft(frames * _HANN, axis=1)).T
    db = 20 * np.log10(np.maximum(1e-5, _FILTERS @ magnitude)) - REF_LEVEL_DB
    scaled = 2 * MAX_ABS * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS
    return np.clip(scaled, -MAX_ABS, MAX_ABS).astype(np.float32)


def window_at(mel: np.ndarray, fps: float, index: int) -> np.ndarray:
    """(80, 16): the mel window starting at video frame ``index``'s time (padded past the end)."""
    start = min(int(index * MELS_PER_SECOND / fps), max(mel.shape[1] - WINDOW, 0))
    window = mel[:, start : start + WINDOW]
    return np.pad(window, ((0, 0), (0, WINDOW - window.shape[1])), constant_values=-MAX_ABS)


def frame_windows(mel: np.ndarray, fps: float, n_frames: int) -> np.ndarray:
    """(n_frames, 80, 16): the mel window starting at each video frame's time."""
    if n_frames == 0:
        return np.empty((0, N_MELS, WINDOW), np.float32)
    return np.stack([window_at(mel, fps, i) for i in range(n_frames)]).astype(np.float32, copy=False)

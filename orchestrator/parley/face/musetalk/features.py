"""MuseTalk's audio features, in numpy around the exported Whisper encoder: 16 kHz audio → Whisper log-mel
per 30 s segment → the encoder's stacked hidden states (50 a second) → for each video frame, the
10 Whisper frames (0.2 s) from 2 video frames before it to 2 after it, flattened to (50, 384).

The windows follow the official inference: the features are zero-padded on the left by
``2 × ceil(50 / fps)`` frames, and frame ``i``'s window starts at ``floor(i × 50 / fps)`` there.
"""

from __future__ import annotations

import math

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

from parley.core.audio import SAMPLE_RATE
from parley.face.musetalk import AUDIO_DIM, AUDIO_TOKENS, MEL_FRAMES, WHISPER_FRAMES
from parley.face.network import Network

SEGMENT = 30 * SAMPLE_RATE  # samples per encoder call: Whisper's fixed 30 s
WHISPER_FPS = WHISPER_FRAMES // 30  # encoder frames a second
CONTEXT = 2  # video frames of audio on each side of a frame's own
WINDOW = 2 * (2 * CONTEXT + 1)  # Whisper frames per video frame: 0.2 s
LAYERS = AUDIO_TOKENS // WINDOW  # hidden states per Whisper frame: whisper-tiny's 4 layers and their input

_EXTRACTOR = FeatureExtractor(feature_size=80)


def log_mel(segment: np.ndarray) -> np.ndarray:
    """(80, 3000): Whisper's log-mel of up to 30 s of 16 kHz audio, zero-padded to 30 s first as
    transformers' WhisperFeatureExtractor does (the clipping floor is 8 below the loudest value)."""
    padded = np.zeros(SEGMENT, np.float32)
    padded[: len(segment)] = segment[:SEGMENT]
    return _EXTRACTOR(padded, padding=0)[:, :MEL_FRAMES].astype(np.float32)


def whisper_features(audio: np.ndarray, whisper: Network) -> np.ndarray:
    """(T, 5, 384): the features of 16 kHz mono ``audio``, 50 a second, from ``whisper`` (the
    exported encoder: ``mel`` (B, 80, 3000) → ``features`` (B, 1500, 5, 384)), one call for all its
    30 s segments."""
    audio = np.asarray(audio, np.float32)
    mels = np.stack([log_mel(audio[i : i + SEGMENT]) for i in range(0, max(len(audio), 1), SEGMENT)])
    features = whisper(mel=mels)
    length = int(len(audio) / SAMPLE_RATE * WHISPER_FPS)
    return features.reshape(-1, LAYERS, AUDIO_DIM)[:length]


def frame_windows(features: np.ndarray, fps: float, indices) -> np.ndarray:
    """(len(indices), 50, 384): the audio tokens of each video frame index (zeros past either end)."""
    indices = np.asarray(indices, np.int64).reshape(-1)
    step = WHISPER_FPS / fps
    left = math.ceil(step) * CONTEXT
    starts = np.floor(indices * step).astype(np.int64)
    end = int(starts.max(initial=0)) + WINDOW
    padded = np.zeros((max(end, left + len(features)), LAYERS, AUDIO_DIM), np.float32)
    padded[left : left + len(features)] = features
    windows = padded[starts[:, None] + np.arange(WINDOW)]
    return windows.reshape(len(indices), AUDIO_TOKENS, AUDIO_DIM)

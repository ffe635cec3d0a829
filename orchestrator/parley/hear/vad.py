"""Silero VAD v6 on onnxruntime, streaming: one speech probability per 32 ms of 16 kHz audio.

The model is a recurrent network: each 512-sample chunk is fed with the last 64 samples of the
previous chunk as context, and the LSTM state (h, c) is carried from call to call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

from parley.core.audio import SAMPLE_RATE

CHUNK = 512  # samples at 16 kHz: 32 ms
CONTEXT = 64
CHUNK_SECONDS = CHUNK / SAMPLE_RATE


def load_model(model_file: Path) -> onnxruntime.InferenceSession:
    """The network, loaded once and shared: each stream keeps its own state in a ``SileroVAD``."""
    options = onnxruntime.SessionOptions()
    # A chunk is tiny: more threads only add synchronisation cost.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


class SileroVAD:
    """One stream's voice activity: its own recurrent state over a shared model."""

    def __init__(self, model: onnxruntime.InferenceSession | Path) -> None:
        self.session = model if isinstance(model, onnxruntime.InferenceSession) else load_model(model)
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)

    def feed(self, audio: np.ndarray) -> list[float]:
        """Speech probabilities for every complete 512-sample chunk now available."""
        self._pending = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        probs = []
        while len(self._pending) >= CHUNK:
            chunk, self._pending = self._pending[:CHUNK], self._pending[CHUNK:]
            x = np.concatenate([self._context, chunk])[None, :]
            out, self._h, self._c = self.session.run(None, {"input": x, "h": self._h, "c": self._c})
            self._context = chunk[-CONTEXT:]
            probs.append(float(np.asarray(out).reshape(-1)[0]))
        return probs

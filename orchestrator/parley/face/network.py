"""A lip-sync network as one call, wherever it runs: named input arrays in, one output array out.

``OnnxNetwork`` runs an exported network in this process (onnxruntime with TensorRT or CUDA when the
installed build has them, else the CPU); ``parley.engines.triton.lipsync.TritonNetwork`` sends the same
call to a Triton model, whose dynamic batcher merges every session's frames into one GPU batch. A
network that cannot answer raises ``EngineUnavailable``: the live face then draws that frame with the
warp and the ladder steps down.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime

from parley.core.errors import EngineUnavailable
from parley.core.speech import SpokenChunk


class Network(Protocol):
    where: str  # for logs and the server's health: "onnxruntime (CPUExecutionProvider)", "Triton at …"

    def __call__(self, **inputs: np.ndarray) -> np.ndarray:
        """One call; the first axis of every input is the batch."""


def default_providers() -> list[str]:
    """The GPU providers onnxruntime has here, then the CPU (never the remote Azure provider)."""
    available = onnxruntime.get_available_providers()
    gpu = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    return gpu + ["CPUExecutionProvider"]


class OnnxNetwork:
    def __init__(self, model_file: Path, providers: list[str] | None = None) -> None:
        self.model_file = Path(model_file)
        try:
            self.session = onnxruntime.InferenceSession(str(model_file), providers=providers or default_providers())
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
            raise ValueError(f"{model_file} is not an ONNX model onnxruntime can load: {exc}") from None
        self.where = f"onnxruntime ({self.session.get_providers()[0]})"

    def __call__(self, **inputs: np.ndarray) -> np.ndarray:
        try:
            return self.session.run(None, inputs)[0]
        except Exception as exc:  # e.g. a GPU out of memory: this frame falls back, the session goes on
            raise EngineUnavailable(f"lip-sync network {self.model_file.name} failed: {exc}") from exc


class ChunkFeatures:
    """A network's audio features of each chunk being spoken, computed once per chunk: one face serves
    every session, so the chunks of several sessions are live at once."""

    def __init__(self, compute: Callable[[SpokenChunk], np.ndarray], keep: int = 16) -> None:
        self.compute = compute
        self.keep = keep
        # By identity, holding the chunk so its id is not reused while its features are kept.
        self._kept: OrderedDict[int, tuple[SpokenChunk, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, chunk: SpokenChunk) -> np.ndarray:
        with self._lock:
            kept = self._kept.get(id(chunk))
            if kept is not None and kept[0] is chunk:
                self._kept.move_to_end(id(chunk))
                return kept[1]
        features = self.compute(chunk)  # outside the lock: other sessions' frames go on meanwhile
        with self._lock:
            self._kept[id(chunk)] = (chunk, features)
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
        return features

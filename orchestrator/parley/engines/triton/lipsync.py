"""A lip-sync network on Triton (``lipsync`` for Wav2Lip, ``musetalk``): each live frame is one request,
and Triton's dynamic batcher runs the frames of every session in one batch on the GPU."""

from __future__ import annotations

import numpy as np

from parley.config import TritonConfig
from parley.engines.triton.client import TritonModel, tensor

# A frame that has not come back by then has missed its slot many times over: the live face draws it
# with the warp instead, and a Triton that keeps answering that late steps the ladder down.
FRAME_TIMEOUT_S = 1.0


class TritonNetwork:
    def __init__(self, config: TritonConfig, name: str, output: str = "frame") -> None:
        timeout = min(config.request_timeout_s, FRAME_TIMEOUT_S)
        self.model = TritonModel(config.model_copy(update={"request_timeout_s": timeout}), name)
        self.output = output
        self.where = f"Triton at {self.model.url} (model {name})"

    def __call__(self, **inputs: np.ndarray) -> np.ndarray:
        result = self.model.infer([tensor(k, np.ascontiguousarray(v)) for k, v in inputs.items()], [self.output])
        return result.as_numpy(self.output)

    def ready(self) -> bool:
        return self.model.ready()

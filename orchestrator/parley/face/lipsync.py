"""The stack's lip-sync face by name (``face.engine``), on the runtime ``face.runtime`` names.

Wav2Lip and MuseTalk draw the mouth from the audio on top of the avatar's warp (its head motion and
blinks); the warp itself is the ``warp`` engine, which needs no network.
"""

from __future__ import annotations

from parley.config import FaceConfig, TritonConfig
from parley.core.interfaces import Face
from parley.face.network import Network, OnnxNetwork
from parley.face.warp import WarpFace

TRITON_MODELS = {"wav2lip": "lipsync", "musetalk": "musetalk"}


def network(face: FaceConfig, triton: TritonConfig, model_file) -> Network:
    """The per-frame network, in this process or on Triton."""
    if face.runtime == "triton":
        from parley.engines.triton.lipsync import TritonNetwork  # tritonclient only for Triton stacks

        return TritonNetwork(triton, face.triton_model or TRITON_MODELS[face.engine])
    return OnnxNetwork(model_file)


def lipsync_face(face: FaceConfig, triton: TritonConfig, base: WarpFace) -> Face:
    """``face.engine``'s face drawn over ``base``."""
    if face.engine == "wav2lip":
        from parley.face.wav2lip.renderer import Wav2LipFace

        return Wav2LipFace(network(face, triton, face.model), base, face.batch_size)
    if face.engine == "musetalk":
        from parley.face.musetalk import FRAME_ONNX
        from parley.face.musetalk.renderer import MuseTalkFace

        # Its VAE and Whisper encoders run here whatever the runtime (once per avatar, once per chunk).
        return MuseTalkFace.from_folder(face.model, base, network(face, triton, face.model / FRAME_ONNX),
                                        batch_size=face.batch_size)
    raise ValueError(f"face.engine {face.engine!r} has no lip-sync network")

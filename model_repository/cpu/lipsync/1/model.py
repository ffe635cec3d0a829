"""`lipsync`: Wav2Lip on onnxruntime; every request Triton batched together goes through one model call.

The weights are the user's (research licence): export them next to this file as model.onnx with
`python export/wav2lip.py --checkpoint wav2lip_gan.pth --out model_repository/cpu/lipsync/1/model.onnx`.
"""

from pathlib import Path

import numpy as np
import onnxruntime
import triton_python_backend_utils as pb_utils

from parley.face.network import default_providers


class TritonPythonModel:
    def initialize(self, args):
        model_file = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        if not model_file.is_file():
            raise pb_utils.TritonModelException(
                f"{model_file} is missing: export your Wav2Lip checkpoint there with export/wav2lip.py"
            )
        self.session = onnxruntime.InferenceSession(str(model_file), providers=default_providers())

    def execute(self, requests):
        get = lambda r, name: pb_utils.get_input_tensor_by_name(r, name).as_numpy()  # noqa: E731
        sizes = [len(get(r, "audio")) for r in requests]
        audio = np.concatenate([get(r, "audio") for r in requests])
        face = np.concatenate([get(r, "face") for r in requests])
        (frames,) = self.session.run(None, {"audio": audio, "face": face})
        parts = np.split(frames, np.cumsum(sizes)[:-1])
        return [pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("frame", p)]) for p in parts]

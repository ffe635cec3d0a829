"""Python-backend stand-ins for the GPU repository's models whose backends need a GPU (TensorRT-LLM,
TensorRT plans, onnxruntime with TensorRT), for the CPU rehearsal of the gpu profile
(tests/served/test_gpu_rehearsal.py). Each serves its model's own config.pbtxt, only the backend and
instance kind changed, so a renamed tensor or a changed dtype breaks the rehearsal as it would the GPU.
"""

import json

import numpy as np

import triton_python_backend_utils as pb_utils


def config_of(args) -> dict:
    return json.loads(args["model_config"])


def dtypes(config: dict, kind: str) -> dict[str, np.dtype]:
    """The numpy dtype of each ``kind`` ("input" or "output") tensor, as the config declares it."""
    return {t["name"]: pb_utils.triton_string_to_numpy(t["data_type"]) for t in config[kind]}


def inputs(request, config: dict) -> dict[str, np.ndarray]:
    """The request's tensors, each checked against the config's dtype (a BLS model sending another fails)."""
    out = {}
    for name, dtype in dtypes(config, "input").items():
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        if tensor is not None:
            value = tensor.as_numpy()
            if value.dtype != dtype:
                raise pb_utils.TritonModelException(f"{name} is {value.dtype}, the config says {dtype}")
            out[name] = value
    return out


def response(config: dict, values: dict[str, np.ndarray]):
    declared = dtypes(config, "output")
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor(name, np.ascontiguousarray(v, dtype=declared[name])) for name, v in values.items()])

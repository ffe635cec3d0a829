"""The GPU variant of model_repository/: the same names and I/O on GPU backends (NGC Triton images).

vad and tts's acoustic model run on onnxruntime with the TensorRT accelerator, lipsync is a
TensorRT plan, the LLM and Whisper are TensorRT-LLM engines behind Python models that keep
Parley's contract (laid out like NVIDIA's tensorrtllm_backend ``all_models``), and visemes stays
a Python model on the CPU. Nothing here can run without a GPU; docs/triton.md says how to build
the engines and plans it expects.

One repository, two servers (docker-compose.yml, profile gpu): NVIDIA's ``-trtllm-python-py3`` image
holds only the TensorRT-LLM and Python backends, its ``-py3`` image the onnxruntime and TensorRT ones
(and Python) but not TensorRT-LLM. Each loads its own models (``--load-model``), and a Python model
calls by BLS only models of its own server, so each BLS model sits beside the model it calls.
"""

from __future__ import annotations

import numpy as np
from triton_contract import (
    CONTRACT,
    CPU,
    GPU,
    Contract,
    Tensor,
    dynamic_batching,
    model_config,
    param_text,
    settings_of,
    speak,
    visemes,
)
from tritonclient.grpc import model_config_pb2 as mc

from parley.config import Settings
from parley.models.store import registry_parameter

# NGC release of both images: 24.11 is the first whose TensorRT-LLM (0.15) takes Whisper's encoder
# features; it is Triton 2.52 (the tritonclient pin), CUDA 12.6, TensorRT 10.6. The -py3 image is
# Ubuntu 24.04 with Python 3.12; the Python models must import under the TensorRT-LLM image's too.
RELEASE = "24.11"
LLM_IMAGE = f"nvcr.io/nvidia/tritonserver:{RELEASE}-trtllm-python-py3"
MEDIA_IMAGE = f"nvcr.io/nvidia/tritonserver:{RELEASE}-py3"
# Which server loads which model (the BLS models llm and asr call the engines beside them; tts calls
# tts_voice).
LLM_SERVER = ("llm", "tensorrt_llm", "asr", "whisper_tensorrt_llm")
MEDIA_SERVER = ("vad", "tts", "tts_voice", "visemes", "speak", "lipsync", "musetalk")
# Where TensorRT engines built at load time are kept across restarts (the engines volume, writable).
# onnxruntime makes only the last folder of a cache path: models-init makes the rest
# (deploy/orchestrator/gpu_repository.py).
ORT_ENGINE_CACHE = "/engines/ort"
# Longest phoneme sequence one TTS request may send (a clause of the reply, with room to spare).
MAX_PHONEMES = 2048
# Concurrent requests a synchronous Python model serves: one instance runs one request at a time,
# so every session would wait behind the others. Upstream's rule: as many as the engine's batch.
BLS_INSTANCES = 8


def _tensorrt_accelerator(config: mc.ModelConfig, precision: str, profiles: dict[str, list[str]] | None) -> None:
    accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
    accelerator.parameters["precision_mode"] = precision
    accelerator.parameters["max_workspace_size_bytes"] = str(1 << 30)
    # Built once, then loaded from the cache at every start.
    accelerator.parameters["trt_engine_cache_enable"] = "1"
    accelerator.parameters["trt_engine_cache_path"] = f"{ORT_ENGINE_CACHE}/{config.name}"
    accelerator.parameters["trt_timing_cache_enable"] = "1"
    accelerator.parameters["trt_timing_cache_path"] = f"{ORT_ENGINE_CACHE}/{config.name}"
    # One engine for every shape a dynamic input takes; without a profile TensorRT rebuilds whenever a
    # longer input than any before arrives, in the middle of a call.
    for level, shapes in (profiles or {}).items():
        accelerator.parameters[f"trt_profile_{level}_shapes"] = ",".join(shapes)


def _onnx_gpu(name: str, contract: Contract, precision: str,
              profiles: dict[str, list[str]] | None = None) -> mc.ModelConfig:
    config = model_config(name, contract, "onnxruntime", GPU)
    config.default_model_filename = "model.onnx"
    _tensorrt_accelerator(config, precision, profiles)
    return config


def _warmup(config: mc.ModelConfig, name: str, inputs: dict[str, np.ndarray]) -> dict[str, bytes]:
    """A warm-up request Triton sends before the model is ready, so the first caller does not wait for
    the engine build; its data files (raw little-endian, in the model's warmup/ folder) by file name."""
    warmup = config.model_warmup.add(name=name, batch_size=1)
    files = {}
    for tensor_name, value in inputs.items():
        dtype = "TYPE_INT64" if value.dtype == np.int64 else "TYPE_FP32"
        item = warmup.inputs[tensor_name]
        item.data_type = mc.DataType.Value(dtype)
        item.dims.extend(value.shape)
        item.input_data_file = f"{name}_{tensor_name}"
        files[item.input_data_file] = value.astype(value.dtype.newbyteorder("<")).tobytes()
    return files


def _tts_voice() -> tuple[mc.ModelConfig, dict[str, bytes]]:
    shapes = lambda n: [f"input:1x{n}", "input_lengths:1", "scales:3"]  # noqa: E731
    config = _onnx_gpu("tts_voice", TTS_VOICE, "FP16",
                       {"min": shapes(1), "opt": shapes(200), "max": shapes(MAX_PHONEMES)})
    files = {}
    for n in (200, MAX_PHONEMES):  # the profile's optimum and its end: both are built and run once
        files |= _warmup(config, f"phonemes_{n}", {
            "input": np.full((1, n), 8, np.int64),  # any phoneme id of the voice's alphabet
            "input_lengths": np.array([n], np.int64),
            "scales": np.array([0.667, 1.0, 0.8], np.float32),
        })
    return config, files


def _zero_warmup(config: mc.ModelConfig, name: str, contract: Contract) -> None:
    """A warm-up request of zeros (fixed-shape inputs, for which zeros are a valid request)."""
    warmup = config.model_warmup.add(name=name, batch_size=1)
    for t in contract.inputs:
        warmup.inputs[t.name].data_type = mc.DataType.Value(t.dtype)
        warmup.inputs[t.name].dims.extend(t.dims)
        warmup.inputs[t.name].zero_data = True


def _vad() -> mc.ModelConfig:
    config = _onnx_gpu("vad", CONTRACT["vad"], "FP32")
    _zero_warmup(config, "silence", CONTRACT["vad"])  # zeros: silence and a fresh state
    return config


# Piper's acoustic model as exported by `parley models fetch` (alignment output added): the `tts`
# Python model phonemises on the CPU and calls it. Tensor names are Piper's own.
TTS_VOICE = Contract(
    inputs=(
        Tensor("input", "TYPE_INT64", (1, -1)),
        Tensor("input_lengths", "TYPE_INT64", (1,)),
        Tensor("scales", "TYPE_FP32", (3,)),
    ),
    outputs=(
        Tensor("output", "TYPE_FP32", (1, 1, 1, -1)),
        # The phoneme durations piper.patch_voice_with_alignment exposes, in frames of hop_length samples.
        Tensor("/Ceil_output_0", "TYPE_FP32", (1, 1, -1)),
    ),
)

# MuseTalk's per-frame network as export/musetalk.py writes it (musetalk_frame.onnx, its weights in
# musetalk_frame.onnx.data beside it): the UNet and the VAE decoder. Its VAE and Whisper encoders run
# in the orchestrator (once per avatar, once per chunk of speech).
MUSETALK = Contract(
    inputs=(Tensor("latents", "TYPE_FP32", (8, 32, 32)), Tensor("audio", "TYPE_FP32", (50, 384))),
    outputs=(Tensor("frame", "TYPE_FP32", (3, 256, 256)),),
    max_batch_size=32,
)

# Where export/trtllm/ builds the engines (the `engines` volume of docker-compose.yml).
LLM_ENGINE = "/engines/llm"  # the engine and, beside it, the model's tokenizer files
WHISPER_ENGINES = "/engines/whisper"  # encoder/ and decoder/


def _trtllm_input(config: mc.ModelConfig, name: str, dtype: str, dims: tuple[int, ...], *,
                  ragged: bool = False, scalar: bool = False, optional: bool = False) -> None:
    """An input of the tensorrtllm backend: per-request scalars are [1] on the wire and [] inside."""
    tensor = config.input.add(name=name, data_type=mc.DataType.Value(dtype), dims=list(dims))
    tensor.allow_ragged_batch = ragged
    tensor.optional = optional
    if scalar:
        tensor.reshape.SetInParent()


def _trtllm_engine(name: str, engine_path: str, max_batch: int, decoupled: bool, parameters: dict) -> mc.ModelConfig:
    """A tensorrtllm-backend model: in-flight batching over a paged KV cache; the backend places
    the engine on the GPU itself, so the instance is KIND_CPU (as NVIDIA's all_models do)."""
    config = mc.ModelConfig(name=name, backend="tensorrtllm", max_batch_size=max_batch)
    config.model_transaction_policy.decoupled = decoupled
    config.dynamic_batching.SetInParent()
    config.instance_group.add(kind=CPU, count=1)
    _trtllm_input(config, "input_lengths", "TYPE_INT32", (1,), scalar=True)
    _trtllm_input(config, "request_output_len", "TYPE_INT32", (1,), scalar=True)
    for token in ("end_id", "pad_id"):
        _trtllm_input(config, token, "TYPE_INT32", (1,), scalar=True, optional=True)
    _trtllm_input(config, "streaming", "TYPE_BOOL", (1,), optional=True)
    config.output.add(name="output_ids", data_type=mc.TYPE_INT32, dims=[-1, -1])
    config.output.add(name="sequence_length", data_type=mc.TYPE_INT32, dims=[-1])
    base = {
        "gpt_model_type": "inflight_fused_batching",
        "gpt_model_path": engine_path,
        "max_beam_width": 1,
        "batch_scheduler_policy": "guaranteed_no_evict",
        "exclude_input_in_output": True,
    }
    for key, value in {**base, **parameters}.items():
        config.parameters[key].string_value = param_text(value)
    return config


def _llm_engine() -> mc.ModelConfig:
    config = _trtllm_engine("tensorrt_llm", LLM_ENGINE, max_batch=64, decoupled=True, parameters={
        # The LLM and Whisper share the GPU's memory left after the weights.
        "kv_cache_free_gpu_mem_fraction": 0.6,
        # Both TensorRT-LLM models live in one process: a fraction of the free memory depends on which
        # loads first, a token count does not (64 sessions of the full 2560-token context).
        "max_tokens_in_paged_kv_cache": 64 * 2560,
        # A session's prompts share the persona and history prefix: its KV blocks are reused (the
        # engine must be built with --use_paged_context_fmha enable: export/trtllm/build_llm.sh).
        "enable_kv_cache_reuse": True,
        "cancellation_check_period_ms": 20,
    })
    _trtllm_input(config, "input_ids", "TYPE_INT32", (-1,), ragged=True)
    _trtllm_input(config, "stop_words_list", "TYPE_INT32", (2, -1), ragged=True, optional=True)
    _trtllm_input(config, "stop", "TYPE_BOOL", (1,), optional=True)
    for name in ("temperature", "runtime_top_p", "repetition_penalty"):
        _trtllm_input(config, name, "TYPE_FP32", (1,), scalar=True, optional=True)
    _trtllm_input(config, "random_seed", "TYPE_UINT64", (1,), scalar=True, optional=True)
    return config


def _whisper_engine() -> mc.ModelConfig:
    config = _trtllm_engine("whisper_tensorrt_llm", f"{WHISPER_ENGINES}/decoder", max_batch=16, decoupled=False,
                            parameters={
                                "encoder_model_path": f"{WHISPER_ENGINES}/encoder",
                                "kv_cache_free_gpu_mem_fraction": 0.2,
                                "max_tokens_in_paged_kv_cache": 24000,
                                "cross_kv_cache_fraction": 0.5,
                                "enable_kv_cache_reuse": False,
                            })
    _trtllm_input(config, "decoder_input_ids", "TYPE_INT32", (-1,), ragged=True)
    _trtllm_input(config, "encoder_input_features", "TYPE_FP16", (-1, -1), ragged=True)
    _trtllm_input(config, "encoder_output_lengths", "TYPE_INT32", (1,), scalar=True)
    # A greedy decode that starts repeating itself would run to Whisper's 448 tokens: the asr model
    # sends the penalty the CPU engine uses, besides its cap on the output length.
    _trtllm_input(config, "repetition_penalty", "TYPE_FP32", (1,), scalar=True, optional=True)
    return config


def _musetalk() -> mc.ModelConfig:
    shapes = lambda b: [f"latents:{b}x8x32x32", f"audio:{b}x50x384"]  # noqa: E731
    config = _onnx_gpu("musetalk", MUSETALK, "FP16",
                       {"min": shapes(1), "opt": shapes(16), "max": shapes(MUSETALK.max_batch_size)})
    config.default_model_filename = "musetalk_frame.onnx"
    dynamic_batching(config, delay_us=2_000)
    _zero_warmup(config, "silent_frame", MUSETALK)
    return config


def _instances(config: mc.ModelConfig, count: int) -> mc.ModelConfig:
    config.instance_group[0].count = count
    return config


# Beside the models (Triton reads only folders there): what served_files returns, for models-init.
SERVED_FILES = "served_files.json"


def served_files(settings: Settings) -> dict[str, str]:
    """The files models serve straight from the model store, which models-init copies into their version
    folders: each version folder's file by the store's path of it (``MODEL/FILE`` under ``$PARLEY_HOME/models``)."""
    def onnx_of(name: str) -> str:
        return f"{name}/{next(f.name for f in settings.registry.get(name).files if f.name.endswith('.onnx'))}"

    return {"vad/1/model.onnx": onnx_of(settings.stack.vad.model),
            "tts_voice/1/model.onnx": onnx_of(settings.stack.tts.voice)}


def gpu_models(settings: Settings) -> dict[str, mc.ModelConfig]:
    """The configs, and the warm-up data files they name (``warmup_files``)."""
    return gpu_repository(settings)[0]


def gpu_repository(settings: Settings) -> tuple[dict[str, mc.ModelConfig], dict[str, dict[str, bytes]]]:
    stack = settings.stack
    lipsync = model_config("lipsync", CONTRACT["lipsync"], None, GPU)
    lipsync.platform = "tensorrt_plan"
    lipsync.default_model_filename = "model.plan"
    dynamic_batching(lipsync, delay_us=2_000)
    tts_voice, voice_files = _tts_voice()
    models = {
        "vad": _vad(),
        "tts_voice": tts_voice,
        "tts": _instances(model_config(
            "tts", CONTRACT["tts"], "python", CPU,
            {**settings_of(stack.tts, "voice", "length_scale", "noise_scale", "noise_w_scale"),
             "voice_model": "tts_voice", **registry_parameter(settings.registry, stack.tts.voice)}),
            BLS_INSTANCES),
        "visemes": visemes(settings),
        "speak": speak(),
        "lipsync": lipsync,
        "musetalk": _musetalk(),
    }
    llm = stack.llm
    models["llm"] = model_config("llm", CONTRACT["llm"], "python", CPU, {
        **settings_of(llm, "temperature", "top_p", "repeat_penalty", "seed"),
        "engine_model": "tensorrt_llm", "tokenizer_dir": LLM_ENGINE,
    })
    models["tensorrt_llm"] = _llm_engine()
    models["asr"] = _instances(model_config("asr", CONTRACT["asr"], "python", CPU, {
        **settings_of(stack.asr, "model", "language"), "engine_model": "whisper_tensorrt_llm", "n_mels": 80,
        **registry_parameter(settings.registry, stack.asr.model),
    }), BLS_INSTANCES)
    models["whisper_tensorrt_llm"] = _whisper_engine()
    assert set(models) == set(LLM_SERVER + MEDIA_SERVER), "every model is loaded by exactly one server"
    return models, {"tts_voice": voice_files}

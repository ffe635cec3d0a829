"""The GPU variant of model_repository/: the same names and I/O on GPU backends (NGC Triton image).

vad and tts's acoustic model run on onnxruntime with the TensorRT accelerator, lipsync is a
TensorRT plan, the LLM and Whisper are TensorRT-LLM engines behind Python models that keep
Parley's contract (laid out like NVIDIA's tensorrtllm_backend ``all_models``), and visemes stays
a Python model on the CPU. Nothing here can run without a GPU; docs/triton.md says how to build
the engines and plans it expects.
"""

from __future__ import annotations

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


def _tensorrt_accelerator(config: mc.ModelConfig, precision: str) -> None:
    accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
    accelerator.parameters["precision_mode"] = precision
    accelerator.parameters["max_workspace_size_bytes"] = str(1 << 30)


def _onnx_gpu(name: str, contract: Contract, precision: str) -> mc.ModelConfig:
    config = model_config(name, contract, "onnxruntime", GPU)
    config.default_model_filename = "model.onnx"
    _tensorrt_accelerator(config, precision)
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
    _trtllm_input(config, "request_output_len", "TYPE_INT32", (1,))
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
        # A session's prompts share the persona and history prefix: its KV blocks are reused.
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
                                "cross_kv_cache_fraction": 0.5,
                                "enable_kv_cache_reuse": False,
                            })
    _trtllm_input(config, "decoder_input_ids", "TYPE_INT32", (-1,), ragged=True)
    _trtllm_input(config, "encoder_input_features", "TYPE_FP16", (-1, -1), ragged=True)
    _trtllm_input(config, "encoder_output_lengths", "TYPE_INT32", (1,), scalar=True)
    return config


def gpu_models(settings: Settings) -> dict[str, mc.ModelConfig]:
    stack = settings.stack
    lipsync = model_config("lipsync", CONTRACT["lipsync"], None, GPU)
    lipsync.platform = "tensorrt_plan"
    lipsync.default_model_filename = "model.plan"
    dynamic_batching(lipsync, delay_us=2_000)
    models = {
        "vad": _onnx_gpu("vad", CONTRACT["vad"], "FP32"),
        "tts_voice": _onnx_gpu("tts_voice", TTS_VOICE, "FP16"),
        "tts": model_config("tts", CONTRACT["tts"], "python", CPU,
                            {**settings_of(stack.tts, "voice", "length_scale", "noise_scale", "noise_w_scale"),
                             "voice_model": "tts_voice"}),
        "visemes": visemes(settings),
        "speak": speak(),
        "lipsync": lipsync,
    }
    llm = stack.llm
    models["llm"] = model_config("llm", CONTRACT["llm"], "python", CPU, {
        **settings_of(llm, "temperature", "top_p", "repeat_penalty", "seed"),
        "engine_model": "tensorrt_llm", "tokenizer_dir": LLM_ENGINE,
    })
    models["tensorrt_llm"] = _llm_engine()
    models["asr"] = model_config("asr", CONTRACT["asr"], "python", CPU, {
        **settings_of(stack.asr, "model", "language"), "engine_model": "whisper_tensorrt_llm", "n_mels": 80,
    })
    models["whisper_tensorrt_llm"] = _whisper_engine()
    return models

"""Parley's Triton I/O contract (docs/triton.md) and the config pieces both repository variants share.

Every name, type and shape a client sees is in ``CONTRACT``; export/triton_repository.py (the CPU
variant) and export/triton_gpu.py (the GPU variant) build their configs from it, so the two cannot
drift apart. Configs are Triton's own ``ModelConfig`` protobuf messages, which reject unknown fields
and enum values.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritonclient.grpc import model_config_pb2 as mc

from parley.config import Settings

CPU, GPU = mc.ModelInstanceGroup.KIND_CPU, mc.ModelInstanceGroup.KIND_GPU


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str  # a Triton DataType name, e.g. "TYPE_FP32"
    dims: tuple[int, ...]
    optional: bool = False


@dataclass(frozen=True)
class Contract:
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    max_batch_size: int = 0
    decoupled: bool = False


_PHONEMES = (
    Tensor("PHONEMES", "TYPE_STRING", (-1,)),
    Tensor("PHONEME_STARTS", "TYPE_FP32", (-1,)),
    Tensor("PHONEME_ENDS", "TYPE_FP32", (-1,)),
)
_SPEECH = (Tensor("AUDIO", "TYPE_FP32", (-1,)), Tensor("SAMPLE_RATE", "TYPE_INT32", (1,)), *_PHONEMES)
_STATE = (128,)

CONTRACT: dict[str, Contract] = {
    "asr": Contract(
        inputs=(Tensor("AUDIO", "TYPE_FP32", (-1,)), Tensor("PROMPT", "TYPE_STRING", (1,), optional=True)),
        outputs=(Tensor("TEXT", "TYPE_STRING", (1,)),),
    ),
    "tts": Contract(
        inputs=(Tensor("TEXT", "TYPE_STRING", (1,)),),
        outputs=(*_SPEECH, Tensor("DURATION", "TYPE_FP32", (1,))),
    ),
    "visemes": Contract(
        inputs=(*_PHONEMES, Tensor("DURATION", "TYPE_FP32", (1,))),
        outputs=(Tensor("VISEME_TRACK", "TYPE_STRING", (1,)),),
    ),
    "speak": Contract(
        inputs=(Tensor("TEXT", "TYPE_STRING", (1,)),),
        outputs=(*_SPEECH, Tensor("VISEME_TRACK", "TYPE_STRING", (1,))),
    ),
    "llm": Contract(
        inputs=(Tensor("PROMPT", "TYPE_STRING", (1,)), Tensor("MAX_TOKENS", "TYPE_INT32", (1,))),
        outputs=(Tensor("TEXT", "TYPE_STRING", (1,)),),
        decoupled=True,
    ),
    # Silero's own tensor names: the GPU variant serves the ONNX file unchanged.
    "vad": Contract(
        inputs=(
            Tensor("input", "TYPE_FP32", (1, 576)),
            Tensor("h", "TYPE_FP32", (1, 1, *_STATE)),
            Tensor("c", "TYPE_FP32", (1, 1, *_STATE)),
        ),
        outputs=(
            Tensor("speech_probs", "TYPE_FP32", (1,)),
            Tensor("hn", "TYPE_FP32", (1, 1, *_STATE)),
            Tensor("cn", "TYPE_FP32", (1, 1, *_STATE)),
        ),
    ),
    # export/wav2lip.py's tensor names, so its TensorRT plan serves unchanged.
    "lipsync": Contract(
        inputs=(Tensor("audio", "TYPE_FP32", (1, 80, 16)), Tensor("face", "TYPE_FP32", (6, 96, 96))),
        outputs=(Tensor("frame", "TYPE_FP32", (3, 96, 96)),),
        max_batch_size=32,
    ),
}



# ---------------------------------------------------------------------------------------------
# Building blocks


def _tensor(into, t: Tensor) -> None:
    added = into.add(name=t.name, data_type=mc.DataType.Value(t.dtype), dims=list(t.dims))
    if t.optional:
        added.optional = True


def param_text(value) -> str:
    """A parameter value as Triton stores it: a string (booleans as true/false, as backends expect)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def model_config(name: str, contract: Contract, backend: str | None, kind: int | None,
                 parameters: dict | None = None) -> mc.ModelConfig:
    config = mc.ModelConfig(name=name, max_batch_size=contract.max_batch_size)
    if backend:
        config.backend = backend
    for t in contract.inputs:
        _tensor(config.input, t)
    for t in contract.outputs:
        _tensor(config.output, t)
    if kind is not None:
        config.instance_group.add(kind=kind, count=1)
    if contract.decoupled:
        config.model_transaction_policy.decoupled = True
    for key, value in (parameters or {}).items():
        config.parameters[key].string_value = param_text(value)
    return config


def settings_of(section, *names: str) -> dict:
    """The named fields of a stack config section that are set (unset ones keep the engine default)."""
    values = section.model_dump(exclude_none=True)
    return {n: values[n] for n in names if n in values}


def dynamic_batching(config: mc.ModelConfig, delay_us: int) -> None:
    config.dynamic_batching.preferred_batch_size.extend([16, 32])
    config.dynamic_batching.max_queue_delay_microseconds = delay_us


def speak() -> mc.ModelConfig:
    """The ensemble: ``tts``'s outputs are passed through, and its phonemes feed ``visemes``."""
    config = model_config("speak", CONTRACT["speak"], None, None)
    config.platform = "ensemble"
    tts = config.ensemble_scheduling.step.add(model_name="tts", model_version=-1)
    tts.input_map["TEXT"] = "TEXT"
    for t in CONTRACT["tts"].outputs:
        tts.output_map[t.name] = t.name if t.name != "DURATION" else "_DURATION"
    visemes = config.ensemble_scheduling.step.add(model_name="visemes", model_version=-1)
    for t in _PHONEMES:
        visemes.input_map[t.name] = t.name
    visemes.input_map["DURATION"] = "_DURATION"
    visemes.output_map["VISEME_TRACK"] = "VISEME_TRACK"
    return config


def visemes(settings: Settings) -> mc.ModelConfig:
    section = settings.stack.visemes
    params = settings_of(section, "fps", "coarticulation_ms", "lead_ms")
    return model_config("visemes", CONTRACT["visemes"], "python", CPU, params)

"""Where each stage of the loop runs now, and why: in this process (on the CPU, or a GPU through
onnxruntime), on Triton (on its GPU or its CPU, read from the served model's config), or on the
in-process fallback while Triton is away. ``parley doctor`` and the server's health report it, so a
GPU deployment that silently runs on the CPU is seen at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from parley.config import Settings, TritonConfig
from parley.core.stages import IN_PROCESS, SERVED

_GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass(frozen=True)
class Placement:
    stage: str
    runs: str  # in-process, triton, fallback (in-process while Triton is away), server, none
    device: str  # CPU, GPU, or "?" when it cannot be known from here
    engine: str
    why: str

    @property
    def label(self) -> str:
        """Short and public: e.g. triton-gpu, in-process-cpu, fallback-cpu."""
        return f"{self.runs}-{self.device.lower()}" if self.device != "?" else self.runs

    def wire(self) -> dict:
        return asdict(self)


def served_on(chain: list[tuple[str, dict]]) -> tuple[str, str]:
    """(GPU or CPU, how) of a model given its BLS chain (``engines.triton.client.bls_chain``): a Python
    model's work runs where the model it calls runs."""
    config = chain[-1][1]
    kinds = sorted({g.get("kind", "KIND_AUTO") for g in config.get("instance_group", [])})
    accelerated = config.get("optimization", {}).get("execution_accelerators", {}).get("gpu_execution_accelerator")
    backend = config.get("backend") or config.get("platform", "")
    on_gpu = backend in ("tensorrtllm", "tensorrt_plan") or "KIND_GPU" in kinds or bool(accelerated)
    how = f"{' → '.join(name for name, _ in chain)} ({backend}, {', '.join(kinds) or 'no instances'})"
    return ("GPU" if on_gpu else "CPU"), how


def triton_device(config: TritonConfig, name: str) -> tuple[str | None, str]:
    """(GPU or CPU, why) of model ``name`` on its Triton; (None, why) when it, or a model it calls, is not
    there to serve: an unloaded model is reported, never raised, for a server must start without it."""
    from parley.engines.triton.client import NotServing, TritonModel  # tritonclient only for Triton stacks

    model = TritonModel(config, name)
    try:
        device, how = served_on(model.chain())
        return device, f"{how} on Triton at {model.url}"
    except NotServing as exc:
        return None, str(exc)
    finally:
        model.client.close()


def _triton(stage: str, settings: Settings, model_name: str, switch, fallback: str | None) -> Placement:
    config = settings.stack.triton
    device, why = triton_device(config, model_name)
    if switch is not None and not switch.on_primary:
        return Placement(stage, "fallback", "CPU", switch.backup_name,
                         f"{switch.reason} (now: {why}); Triton is asked again every {config.probe_interval_s:g} s")
    if device is not None:
        return Placement(stage, "triton", device, "triton", why)
    if fallback is None:
        return Placement(stage, "none", "?", "triton", f"{why}, and {stage} has no fallback (triton.fallback): "
                                                      "its requests fail until it is")
    return Placement(stage, "fallback", "CPU", fallback, f"{why}: the in-process {fallback} engine serves")


def _onnx_device(providers: list[str]) -> str:
    return "GPU" if providers and providers[0] in _GPU_PROVIDERS else "CPU"


def placements(settings: Settings, engines=None, faces: dict | None = None) -> list[Placement]:
    """Every stage's placement; ``engines`` (a running Parley's) tells whether a fallback serves now,
    ``faces`` the live faces by rung."""
    from parley.face.lipsync import TRITON_MODELS
    from parley.face.network import default_providers

    stack = settings.stack
    out = [Placement("vad", "in-process", "CPU", "silero", "Silero is a few hundred microseconds a frame on a "
                                                           "CPU core")]
    if stack.turn_taking.turn_model:
        out.append(Placement("turn", "in-process", "CPU", "llama_cpp", f"{stack.turn_taking.turn_model} reads a "
                                                                       "pause's few words once: milliseconds on a CPU"))
    for stage in SERVED:
        engine = getattr(stack, stage).engine
        loaded = engines.loaded().get(stage) if engines is not None else None
        if engine == "triton":
            fallback = IN_PROCESS[stage] if stage in stack.triton.fallback else None
            out.append(_triton(stage, settings, stage, getattr(loaded, "switch", None), fallback))
        elif engine == "openai":
            out.append(Placement(stage, "server", "?", engine, f"the OpenAI-compatible server at "
                                                               f"{getattr(stack, stage).base_url}"))
        else:
            out.append(Placement(stage, "in-process", "CPU", engine, "the stack's in-process engine"))
    face = stack.face
    if face.engine == "warp":
        out.append(Placement("face", "in-process", "CPU", "warp", "the 2D warp (OpenCV) needs no network"))
    elif face.runtime == "triton":
        model = face.triton_model or TRITON_MODELS[face.engine]
        placed = _triton("face", settings, model, None, "warp")
        out.append(Placement("face", placed.runs, placed.device, face.engine if placed.runs == "triton" else "warp",
                             placed.why))
    else:
        network = getattr((faces or {}).get("lipsync"), "network", None)
        providers = network.session.get_providers() if network is not None else default_providers()
        out.append(Placement("face", "in-process", _onnx_device(providers), face.engine,
                             f"onnxruntime with {providers[0]}"))
    return out

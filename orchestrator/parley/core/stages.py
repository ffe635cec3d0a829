"""The loop's stages, named once: the names the stack's sections, the engines, the stages' threads,
the health check and ``parley doctor`` use, in the order the loop runs them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    # The in-process engine of the model Triton serves for this stage (``engine: triton``): its
    # fallback while Triton is away. None: the stage is never served.
    in_process: str | None = None
    threads: bool = False  # its work runs on worker threads of its own, shared by every session


STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    Stage("vad"),
    Stage("turn"),  # the end-of-turn model
    Stage("asr", in_process="faster_whisper", threads=True),
    Stage("llm", in_process="llama_cpp", threads=True),
    Stage("tts", in_process="piper", threads=True),
    Stage("visemes"),
    Stage("face", threads=True),
)}

# The stages an engine on Triton can serve, each with its in-process fallback.
IN_PROCESS: dict[str, str] = {s.name: s.in_process for s in STAGES.values() if s.in_process}
SERVED: tuple[str, ...] = tuple(IN_PROCESS)

"""Engines by name. The stack config picks one per stage; importing is lazy so an engine's heavy
dependencies (llama.cpp, onnxruntime, a Triton client) load only when that engine is used.
``parley.assemble`` loads them, wrapping a served engine in its fallback."""

from __future__ import annotations

import importlib

_ENGINES: dict[str, dict[str, str]] = {
    "llm": {
        "llama_cpp": "parley.engines.llama_cpp:LlamaCppEngine",
        "triton": "parley.engines.triton.llm:TritonLLMEngine",
        "openai": "parley.engines.openai_compat:OpenAICompatibleEngine",
    },
    "tts": {
        "piper": "parley.engines.piper_tts:PiperEngine",
        "hibari": "parley.engines.hibari_tts:HibariEngine",
        "triton": "parley.engines.triton.tts:TritonTTSEngine",
        "openai": "parley.engines.openai_tts:OpenAITTSEngine",
    },
    "asr": {
        "faster_whisper": "parley.engines.faster_whisper:FasterWhisperEngine",
        "triton": "parley.engines.triton.asr:TritonASREngine",
    },
}

ENGINE_NAMES: dict[str, list[str]] = {kind: sorted(names) for kind, names in _ENGINES.items()}



def engine_class(kind: str, name: str) -> type:
    module_name, _, attr = _ENGINES[kind][name].partition(":")
    return getattr(importlib.import_module(module_name), attr)

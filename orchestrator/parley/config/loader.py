"""Loading a stack with its persona and registry; a mistake names the file, the key and the allowed values."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from parley.config.avatar import avatar_yaml, read_avatar
from parley.config.base import ConfigError, load_model
from parley.config.persona import Persona
from parley.config.registry import ModelRegistry
from parley.config.stack import StackConfig
from parley.config.voice import Voice, checked_voice

REPO_CONFIGS = Path(__file__).resolve().parents[3] / "configs"



class Settings(BaseModel):
    """A loaded, cross-checked stack: the stack file plus the persona and registry it points to."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    path: Path
    stack: StackConfig
    persona: Persona
    registry: ModelRegistry

    @property
    def prompt_style(self) -> str:
        llm = self.stack.llm
        if llm.prompt_style is not None:
            return llm.prompt_style
        return "chat" if llm.engine == "openai" else self.registry.get(llm.model).prompt_style

    @property
    def restate_facts(self) -> bool:
        """Whether the LLM may say the persona's facts in its own words (``llm.restate_facts``)."""
        llm = self.stack.llm
        if llm.restate_facts is not None:
            return llm.restate_facts
        return llm.engine == "openai" or bool(self.registry.get(llm.model).restates_facts)


def default_config_path() -> Path:
    env = os.environ.get("PARLEY_CONFIG")
    if env:
        return Path(env)
    local = Path("configs/cpu.yaml")
    return local if local.exists() else REPO_CONFIGS / "cpu.yaml"


def load_registry(path: Path) -> ModelRegistry:
    return load_model(path, ModelRegistry)


def load_persona(path: Path) -> Persona:
    persona = load_model(path, Persona)
    if persona.documents is None:
        return persona
    folder = (path.parent / persona.documents).resolve()
    if not folder.is_dir():
        raise ConfigError(f"{path}: documents: {folder} is not a folder; give a folder of Markdown or text "
                          "files, relative to the persona file")
    return persona.model_copy(update={"documents": str(folder)})


def voice_for(path: Path | str | None, avatar_voice: str | None, avatar: Path, avatar_key: str) -> Voice:
    """The voice the stack at ``path`` (default: ``default_config_path()``) gives an avatar not yet made,
    whose avatar.yaml will be ``avatar`` and whose own voice ``avatar_voice`` is given as ``avatar_key``,
    checked against the stack's registry."""
    path = Path(path) if path else default_config_path()
    stack = load_model(path, StackConfig)
    registry_path = path.parent / stack.models
    return checked_voice(path, stack.tts, avatar, avatar_voice, load_registry(registry_path), registry_path,
                         avatar_key)


def _with_face_model(path: Path, stack: StackConfig) -> StackConfig:
    """``face.model`` made absolute (relative to the stack file) and checked, so a missing export stops
    the start with its name rather than the first call."""
    face = stack.face
    if face.model is None or face.engine == "warp":
        return stack
    model = (path.parent / face.model).resolve()
    expected = model.is_file() if face.engine == "wav2lip" else model.is_dir()
    if not expected:
        how = ("export/wav2lip.py --checkpoint YOUR.pth --out FILE.onnx" if face.engine == "wav2lip"
               else "export/musetalk.py --models YOUR_MODELS_DIR --out DIR")
        kind = "file" if face.engine == "wav2lip" else "folder"
        raise ConfigError(f"{path}: face.model: {model} is not a {kind}; make it with `python {how}` "
                          f"(the weights are yours to bring), or set face.engine: warp")
    return stack.model_copy(update={"face": face.model_copy(update={"model": model})})


def load_settings(path: Path | str | None = None, avatar: str | None = None) -> Settings:
    """The stack at ``path``; ``avatar`` in place of its ``face.avatar`` (and so that avatar's voice)."""
    path = Path(path) if path else default_config_path()
    stack = load_model(path, StackConfig)
    if avatar is not None:
        stack = stack.model_copy(update={"face": stack.face.model_copy(update={"avatar": avatar})})
    base = path.parent
    persona = load_persona(base / stack.persona)
    registry_path = base / stack.models
    registry = load_registry(registry_path)
    avatar_path = avatar_yaml(stack.face.avatar)
    voice = checked_voice(path, stack.tts, avatar_path, read_avatar(avatar_path).voice, registry, registry_path)
    stack = stack.model_copy(update={"tts": stack.tts.model_copy(update={"engine": voice.engine,
                                                                         "voice": voice.name})})
    stack = _with_face_model(path, stack)
    references = (
        *([("llm.model", stack.llm.model, "llm")] if stack.llm.engine != "openai" else []),
        ("tts.align_voice", stack.tts.align_voice, "tts"),
        *([("tts.default_voice", stack.tts.default_voice, "tts")]
          if stack.tts.default_voice and stack.tts.engine != "openai" else []),
        ("asr.model", stack.asr.model, "asr"),
        ("vad.model", stack.vad.model, "vad"),
    )
    if stack.turn_taking.turn_model is not None:
        references = (*references, ("turn_taking.turn_model", stack.turn_taking.turn_model, "llm"))
    if stack.retrieval.embedding is not None:
        references = (*references, ("retrieval.embedding", stack.retrieval.embedding, "embedding"))
    for key, name, kind in references:
        try:
            entry = registry.get(name, kind)
        except KeyError as exc:
            raise ConfigError(f"{path}: {key}: {exc.args[0]} (in {registry_path})") from None
        if key == "turn_taking.turn_model" and not entry.files[0].name.endswith(".gguf"):
            raise ConfigError(f"{path}: {key}: {name} is not a GGUF file llama.cpp can run; name one that is "
                              f"(gemma3-270m), or null for the word rules alone")
    return Settings(path=path, stack=stack, persona=persona, registry=registry)

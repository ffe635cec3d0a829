"""Loading a stack with its persona and registry; a mistake names the file, the key and the allowed values."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from parley.config.base import ConfigError
from parley.config.persona import Persona
from parley.config.registry import ModelRegistry
from parley.config.stack import StackConfig

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


def default_config_path() -> Path:
    env = os.environ.get("PARLEY_CONFIG")
    if env:
        return Path(env)
    local = Path("configs/cpu.yaml")
    return local if local.exists() else REPO_CONFIGS / "cpu.yaml"


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names of the model that an ``extra_forbidden`` error's parent location refers to."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        current = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), ann)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _format_errors(path: Path, model: type[BaseModel], exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc)
            msg = f"unknown key; allowed keys: {', '.join(allowed)}" if allowed else "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"{path}: {key}: {msg}")
    return "\n".join(lines)


def load_model(path: Path, model: type[BaseModel]):
    data = _read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, model, exc)) from None


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


def _with_voice(path: Path, stack: StackConfig, registry: ModelRegistry, registry_path: Path) -> StackConfig:
    """The stack with its TTS engine and voice filled in: the stack's own, else the avatar's voice and
    the engine that plays it."""
    from parley.face.avatars import load_avatar

    tts = stack.tts
    voice = tts.voice or load_avatar(stack.face.avatar).voice
    if voice is None:
        raise ConfigError(f"{path}: tts.voice: no voice; name one here (a tts model of {registry_path}) or as "
                          f"voice: in the avatar {stack.face.avatar!r}'s avatar.yaml")
    engine = tts.engine
    if engine != "openai":
        try:
            played_by = registry.get(voice, "tts").engine
        except KeyError as exc:
            raise ConfigError(f"{path}: tts.voice: {exc.args[0]} (in {registry_path})") from None
        if engine == "triton" and played_by != "piper":
            raise ConfigError(f"{path}: tts.voice: {voice} is a {played_by} voice; Triton serves Piper voices")
        if engine not in (None, "triton") and engine != played_by:
            raise ConfigError(f"{path}: tts.engine: {voice} is played by the {played_by} engine, not {engine}; "
                              f"set tts.engine: {played_by}, or leave tts.engine out")
        engine = engine or played_by
    return stack.model_copy(update={"tts": tts.model_copy(update={"engine": engine, "voice": voice})})


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
    stack = _with_voice(path, stack, registry, registry_path)
    stack = _with_face_model(path, stack)
    references = (
        *([("llm.model", stack.llm.model, "llm")] if stack.llm.engine != "openai" else []),
        ("tts.align_voice", stack.tts.align_voice, "tts"),
        ("asr.model", stack.asr.model, "asr"),
        ("vad.model", stack.vad.model, "vad"),
    )
    if stack.turn_taking.turn_model is not None:
        references = (*references, ("turn_taking.turn_model", stack.turn_taking.turn_model, "llm"))
    for key, name, kind in references:
        try:
            entry = registry.get(name, kind)
        except KeyError as exc:
            raise ConfigError(f"{path}: {key}: {exc.args[0]} (in {registry_path})") from None
        if key == "turn_taking.turn_model" and not entry.files[0].name.endswith(".gguf"):
            raise ConfigError(f"{path}: {key}: {name} is not a GGUF file llama.cpp can run; name one that is "
                              f"(gemma3-270m), or null for the word rules alone")
    return Settings(path=path, stack=stack, persona=persona, registry=registry)

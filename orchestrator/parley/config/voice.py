"""Which voice a stack speaks with for an avatar, and the engine that plays it.

The order: the stack's ``tts.voice`` (one voice for every avatar), else the avatar's own ``voice:``,
else the stack's ``tts.default_voice``, so an avatar made from a photo without a voice still speaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from parley.config.base import ConfigError
from parley.config.registry import ModelRegistry
from parley.config.stack import TTSConfig

Source = Literal["stack", "avatar", "default"]


@dataclass(frozen=True)
class Voice:
    name: str
    engine: str
    source: Source  # "stack": tts.voice; "avatar": the avatar's voice:; "default": tts.default_voice
    key: str  # where it was named, as a user would look for it: "FILE: tts.voice"
    known: tuple[str, ...]  # the registry's voices, to choose another from


def choose_voice(tts: TTSConfig, avatar_voice: str | None) -> tuple[str, Source] | None:
    """The voice's name and which setting named it; None when nothing names one."""
    for name, source in ((tts.voice, "stack"), (avatar_voice, "avatar"), (tts.default_voice, "default")):
        if name:
            return name, source
    return None


def checked_voice(path: Path, tts: TTSConfig, avatar: Path, avatar_voice: str | None,
                  registry: ModelRegistry, registry_path: Path, avatar_key: str | None = None) -> Voice:
    """The voice the stack at ``path`` gives the avatar of ``avatar`` (its avatar.yaml), checked against
    the registry and the stack's ``tts.engine``; a mistake names the setting to change (``avatar_key``
    for the avatar's voice, default its file's ``voice``)."""
    known = tuple(registry.names("tts"))
    choice = choose_voice(tts, avatar_voice)
    if choice is None:
        raise ConfigError(f"{path}: tts.default_voice: no voice for the avatar {str(avatar)!r}, which names none; "
                          f"set tts.default_voice (or tts.voice) to a tts model of {registry_path} "
                          f"({', '.join(known) or 'none'}), or give the avatar one: voice: in {avatar} "
                          "(parley avatar init --voice writes it)")
    name, source = choice
    key = {"stack": f"{path}: tts.voice", "avatar": avatar_key or f"{avatar}: voice",
           "default": f"{path}: tts.default_voice"}[source]
    engine = tts.engine
    if engine == "openai":  # a voice of that server, which only it knows
        return Voice(name, engine, source, key, known)
    try:
        played_by = registry.get(name, "tts").engine
    except KeyError as exc:
        raise ConfigError(f"{key}: {exc.args[0]} (in {registry_path})") from None
    if engine == "triton" and played_by != "piper":
        raise ConfigError(f"{key}: {name} is a {played_by} voice; Triton serves Piper voices")
    if engine not in (None, "triton") and engine != played_by:
        raise ConfigError(f"{path}: tts.engine: {name} is played by the {played_by} engine, not {engine}; "
                          f"set tts.engine: {played_by}, or leave tts.engine out")
    return Voice(name, engine or played_by, source, key, known)

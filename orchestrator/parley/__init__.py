"""Parley: a self-hosted, real-time talking avatar.

The library's front door (see docs/interfaces.md)::

    import parley

    avatar = parley.Parley.load("configs/cpu.yaml")
    session = avatar.voice_session()          # or avatar.conversation() for text only
    async for event in session.run(frames):   # 16 kHz mono float32 frames
        print(event.wire())

Names are imported on first use, so ``import parley`` stays light until an engine is needed.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "Parley": "parley.assemble",
    "Engines": "parley.assemble",
    "Settings": "parley.config",
    "load_settings": "parley.config",
    "ConfigError": "parley.config",
    "ParleyError": "parley.core.errors",
    "EngineUnavailable": "parley.core.errors",
    "Conversation": "parley.session.conversation",
    "History": "parley.reply.history",
    "VoiceSession": "parley.session.voice",
    "Listener": "parley.hear.listener",
    "WallClockOutput": "parley.speak.output",
    "CancelToken": "parley.core.interfaces",
    "Prompt": "parley.core.interfaces",
}
_MODULES = {"events": "parley.core.events", "interfaces": "parley.core.interfaces"}

__all__ = sorted([*_API, *_MODULES])


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'parley' has no attribute {name!r}")

"""YAML configuration: the stack (engines and their settings), personas and the model registry.

Everything is validated on load. A mistake raises ``ConfigError`` whose message names the file, the
key and, where there is a closed set, the allowed values, so a user can fix it without the source.
"""

from parley.config.base import ConfigError, load_model
from parley.config.live import (
    BroadcastConfig,
    FaceConfig,
    JanusTarget,
    LadderConfig,
    RecordingConfig,
    ReportsConfig,
    RtmpTarget,
    ServerConfig,
    WhipTarget,
)
from parley.config.loader import REPO_CONFIGS, Settings, default_config_path, load_registry, load_settings
from parley.config.persona import Example, Persona
from parley.config.registry import ModelEntry, ModelFile, ModelRegistry, PackageSource, UrlSource
from parley.config.stack import (
    ASRConfig,
    AudioInConfig,
    LLMConfig,
    SplitterConfig,
    StackConfig,
    TritonConfig,
    TTSConfig,
    TurnTakingConfig,
    VADConfig,
    VisemeConfig,
)

__all__ = [
    "ASRConfig", "AudioInConfig", "BroadcastConfig", "ConfigError", "Example", "FaceConfig", "JanusTarget",
    "LadderConfig", "LLMConfig", "ModelEntry", "ModelFile", "ModelRegistry", "PackageSource", "Persona",
    "RecordingConfig", "REPO_CONFIGS", "ReportsConfig", "RtmpTarget", "ServerConfig", "Settings", "SplitterConfig", "StackConfig",
    "TritonConfig", "TTSConfig", "TurnTakingConfig", "UrlSource", "VADConfig", "VisemeConfig", "WhipTarget",
    "default_config_path", "load_model", "load_registry", "load_settings",
]

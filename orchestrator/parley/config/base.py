"""What every schema shares: strict, frozen models whose errors name the key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from parley.core.errors import ParleyError


class ConfigError(ParleyError):
    """A configuration file is missing, unreadable or invalid; the message says where and why."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

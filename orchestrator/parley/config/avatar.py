"""The avatar file: a folder under avatars/ with ``avatar.yaml`` and its image (a 2D portrait) or
model (a 3D GLB avatar), validated on load like the stack.

A portrait's file holds the face landmarks the 2D renderer warps around, found once by ``parley
avatar init`` (parley.face.make). Reading the file never reads the GLB: what the model can move is
checked where the avatar is shown (parley.face.avatars), so the settings load without a 3D parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley.config.base import ConfigError, load_model

REPO_AVATARS = Path(__file__).resolve().parents[3] / "avatars"
# The registry's model a photo's 3D head is built on (parley/face/make/fullhead.py).
HEAD_BASE_MODEL = "makehuman-head"

# The points a portrait's landmarks name, by their MediaPipe face-mesh index (image left = the
# subject's right).
MESH_POINTS = {
    "mouth_left": 61, "mouth_right": 291,
    "upper_lip_top": 0, "upper_lip_inner": 13, "lower_lip_inner": 14, "lower_lip_bottom": 17,
    "chin": 152, "jaw_left": 172, "jaw_right": 397, "nose_tip": 1,
    "left_eye_top": 159, "left_eye_bottom": 145, "left_eye_outer": 33, "left_eye_inner": 133,
    "right_eye_top": 386, "right_eye_bottom": 374, "right_eye_inner": 362, "right_eye_outer": 263,
    "face_top": 10, "face_left": 234, "face_right": 454,
}


class PortraitLandmarks(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    points: dict[str, tuple[float, float]]
    inner_lip_upper: list[tuple[float, float]] = Field(min_length=3)
    inner_lip_lower: list[tuple[float, float]] = Field(min_length=3)

    @field_validator("points")
    @classmethod
    def _all_points(cls, points: dict) -> dict:
        missing = sorted(set(MESH_POINTS) - set(points))
        if missing:
            raise ValueError(f"missing landmarks {missing}; run `parley avatar init` on the image again")
        return points

    def p(self, name: str) -> np.ndarray:
        return np.array(self.points[name], dtype=np.float64)


class GLBAvatar(BaseModel):
    """A 3D avatar: a GLB with viseme morph targets, rendered in the browser (web/avatar3d.html)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["glb"]
    model: str
    licence: str
    voice: str | None = None  # the TTS voice (a model of the registry) this person speaks with
    folder: Path = Path(".")

    @property
    def model_path(self) -> Path:
        return self.folder / self.model


class Avatar(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["portrait"]
    image: str
    licence: str
    voice: str | None = None  # the TTS voice (a model of the registry) this person speaks with
    # The upscaler (a model of the registry) that made the image from the photo's face; unset: the
    # image is the photo itself.
    enhanced: str | None = None
    # The square of the image shown, [x, y, size] in image pixels, and the rendered size.
    crop: tuple[int, int, int]
    size: int = Field(512, ge=64, le=2048)
    landmarks: PortraitLandmarks
    folder: Path = Path(".")

    @property
    def image_path(self) -> Path:
        return self.folder / self.image


def avatar_yaml(name_or_path: str) -> Path:
    """The ``avatar.yaml`` of an avatar folder under avatars/ by name, or the path given."""
    path = Path(name_or_path)
    if not path.suffix:
        path = REPO_AVATARS / name_or_path / "avatar.yaml"
        if not path.is_file():
            known = sorted(p.parent.name for p in REPO_AVATARS.glob("*/avatar.yaml"))
            raise ConfigError(f"unknown avatar {name_or_path!r}; known: {', '.join(known) or 'none'}")
    return path


def read_avatar(path: Path) -> Avatar | GLBAvatar:
    """The avatar file at ``path``, validated, with its image or model present."""
    kind = (yaml.safe_load(path.read_text()) or {}).get("kind") if path.is_file() else None
    model = GLBAvatar if kind == "glb" else Avatar
    avatar = load_model(path, model).model_copy(update={"folder": path.parent})
    if isinstance(avatar, GLBAvatar):
        if not avatar.model_path.is_file():
            raise ConfigError(f"{path}: model: {avatar.model_path} not found")
    elif not avatar.image_path.is_file():
        raise ConfigError(f"{path}: image: {avatar.image_path} not found")
    return avatar

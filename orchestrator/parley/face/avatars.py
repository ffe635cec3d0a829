"""An avatar as the face uses it: its file (parley.config.avatar) read and, for a 3D avatar, its
model checked, so a GLB that cannot speak is refused where it is loaded to be shown."""

from __future__ import annotations

from parley.config.avatar import Avatar, GLBAvatar, PortraitLandmarks, avatar_yaml, read_avatar
from parley.config.base import ConfigError
from parley.core.errors import ParleyError
from parley.face.glb import GLBError, check_avatar


class AvatarError(ParleyError, ValueError):
    pass


def load_avatar(name_or_path: str) -> Avatar | GLBAvatar:
    """An avatar by folder name under avatars/, or by the path of its avatar.yaml.

    A GLB avatar is checked for its viseme morph targets here, so a model that cannot speak is
    refused at load time with the names of the missing targets."""
    path = avatar_yaml(name_or_path)
    avatar = read_avatar(path)
    if isinstance(avatar, GLBAvatar):
        try:
            check_avatar(avatar.model_path)
        except GLBError as exc:
            raise ConfigError(f"{path}: model: {exc}") from None
    return avatar


def face_extent(landmarks: PortraitLandmarks) -> tuple[float, float, float, float]:
    """Left, top, right and chin of the face, in image pixels."""
    return (landmarks.p("face_left")[0], landmarks.p("face_top")[1],
            landmarks.p("face_right")[0], landmarks.p("chin")[1])

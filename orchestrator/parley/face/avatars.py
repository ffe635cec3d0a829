"""Avatars: a folder with ``avatar.yaml`` and its image (2D portrait) or model.

A portrait's YAML holds the face landmarks the 2D renderer warps around. They are found once, at
set-up, by ``parley avatar init IMAGE`` (MediaPipe face mesh, which ships its model in the 0.10.14
wheel), so a new portrait needs a new image and that one command, never code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley.config import ConfigError, load_model
from parley.core.errors import ParleyError

REPO_AVATARS = Path(__file__).resolve().parents[3] / "avatars"

# MediaPipe face-mesh indices of the points the renderer uses (image left = the subject's right).
MESH_POINTS = {
    "mouth_left": 61, "mouth_right": 291,
    "upper_lip_top": 0, "upper_lip_inner": 13, "lower_lip_inner": 14, "lower_lip_bottom": 17,
    "chin": 152, "jaw_left": 172, "jaw_right": 397, "nose_tip": 1,
    "left_eye_top": 159, "left_eye_bottom": 145, "left_eye_outer": 33, "left_eye_inner": 133,
    "right_eye_top": 386, "right_eye_bottom": 374, "right_eye_inner": 362, "right_eye_outer": 263,
    "face_top": 10, "face_left": 234, "face_right": 454,
}
INNER_LIPS = {
    "upper": [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308],
    "lower": [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308],
}


class AvatarError(ParleyError, ValueError):
    pass


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
    # The square of the image shown, [x, y, size] in image pixels, and the rendered size.
    crop: tuple[int, int, int]
    size: int = Field(512, ge=64, le=2048)
    landmarks: PortraitLandmarks
    folder: Path = Path(".")

    @property
    def image_path(self) -> Path:
        return self.folder / self.image


def load_avatar(name_or_path: str) -> Avatar | GLBAvatar:
    """An avatar by folder name under avatars/, or by the path of its avatar.yaml.

    A GLB avatar is checked for its viseme morph targets here, so a model that cannot speak is
    refused at load time with the names of the missing targets."""
    from parley.face.glb import GLBError, check_avatar

    path = Path(name_or_path)
    if not path.suffix:
        path = REPO_AVATARS / name_or_path / "avatar.yaml"
        if not path.is_file():
            known = sorted(p.parent.name for p in REPO_AVATARS.glob("*/avatar.yaml"))
            raise ConfigError(f"unknown avatar {name_or_path!r}; known: {', '.join(known) or 'none'}")
    kind = (yaml.safe_load(path.read_text()) or {}).get("kind") if path.is_file() else None
    model = GLBAvatar if kind == "glb" else Avatar
    avatar = load_model(path, model).model_copy(update={"folder": path.parent})
    if isinstance(avatar, GLBAvatar):
        if not avatar.model_path.is_file():
            raise ConfigError(f"{path}: model: {avatar.model_path} not found")
        try:
            check_avatar(avatar.model_path)
        except GLBError as exc:
            raise ConfigError(f"{path}: model: {exc}") from None
    elif not avatar.image_path.is_file():
        raise ConfigError(f"{path}: image: {avatar.image_path} not found")
    return avatar


# What makes a usable portrait (the messages say so when a photo is not one).
MIN_FACE_PX = 96
MAX_MEGAPIXELS = 50
# The nose between the cheeks: 0.5 looking at the camera; past these the face is turned too far to warp.
FRONTAL = (0.3, 0.7)
PHOTO_THAT_WORKS = ("a frontal portrait of one person looking at the camera, the whole face visible and at "
                    "least 96 pixels wide (PNG or JPEG)")


def face_mesh(image: np.ndarray) -> np.ndarray:
    """The MediaPipe face mesh of the one face in an RGB image: (478, 3) points in pixels, x right,
    y down, z the depth (negative towards the camera, in the same pixels as x); ``AvatarError``
    (saying what photo works) when there is no face or more than one."""
    import warnings

    with warnings.catch_warnings():  # protobuf deprecation noise from MediaPipe's generated code
        warnings.simplefilter("ignore")
        import mediapipe as mp

    h, w = image.shape[:2]
    with warnings.catch_warnings(), mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=2, refine_landmarks=True
    ) as mesh:
        warnings.simplefilter("ignore")
        result = mesh.process(np.ascontiguousarray(image[:, :, :3]))
    faces = result.multi_face_landmarks or []
    if not faces:
        raise AvatarError(f"no face found; use {PHOTO_THAT_WORKS}")
    if len(faces) > 1:
        raise AvatarError(f"more than one face found; crop the photo to one person: {PHOTO_THAT_WORKS}")
    return np.array([(p.x * w, p.y * h, p.z * w) for p in faces[0].landmark])


def landmarks_of(mesh: np.ndarray) -> PortraitLandmarks:
    """The points the 2D renderer warps around, from a face mesh (``face_mesh``)."""

    def px(i: int) -> tuple[float, float]:
        return (round(float(mesh[i, 0]), 2), round(float(mesh[i, 1]), 2))

    return PortraitLandmarks(
        points={name: px(i) for name, i in MESH_POINTS.items()},
        inner_lip_upper=[px(i) for i in INNER_LIPS["upper"]],
        inner_lip_lower=[px(i) for i in INNER_LIPS["lower"]],
    )


def find_landmarks(image: np.ndarray) -> PortraitLandmarks:
    """Face-mesh landmarks of the one face in an RGB image, in pixels, checked to be usable."""
    landmarks = landmarks_of(face_mesh(image))
    check_face(landmarks)
    return landmarks


def check_face(landmarks: PortraitLandmarks) -> None:
    """``AvatarError`` if the face is too small to animate or turned too far to one side."""
    left, top, right, chin = face_extent(landmarks)
    size = max(right - left, chin - top)
    if size < MIN_FACE_PX:
        raise AvatarError(f"the face is {size:.0f} pixels across, too small to animate (at least "
                          f"{MIN_FACE_PX}); use a closer or larger photo: {PHOTO_THAT_WORKS}")
    nose = (landmarks.p("nose_tip")[0] - left) / (right - left)
    if not FRONTAL[0] <= nose <= FRONTAL[1]:
        raise AvatarError(f"the face is turned to one side (a profile); use {PHOTO_THAT_WORKS}")


def read_photo(image_file: Path) -> np.ndarray:
    """The photo as RGB pixels, or ``AvatarError`` saying why it cannot be one."""
    import cv2

    if not image_file.is_file():
        raise AvatarError(f"{image_file}: no such file")
    bgr = cv2.imread(str(image_file), cv2.IMREAD_COLOR)
    if bgr is None:
        raise AvatarError(f"{image_file}: not an image that can be read (or larger than OpenCV decodes); "
                          f"use {PHOTO_THAT_WORKS}")
    h, w = bgr.shape[:2]
    if w * h > MAX_MEGAPIXELS * 1_000_000:
        raise AvatarError(f"{image_file}: {w}x{h} is {w * h / 1e6:.0f} megapixels, more than the "
                          f"{MAX_MEGAPIXELS} a portrait needs; scale it down (the face needs a few hundred pixels)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def face_extent(landmarks: PortraitLandmarks) -> tuple[float, float, float, float]:
    """Left, top, right and chin of the face, in image pixels."""
    return (landmarks.p("face_left")[0], landmarks.p("face_top")[1],
            landmarks.p("face_right")[0], landmarks.p("chin")[1])


def face_crop(landmarks: PortraitLandmarks, width: int, height: int) -> tuple[int, int, int]:
    """A square around the face with room for head motion, kept inside the image."""
    left, top, right, chin = face_extent(landmarks)
    cx, cy = (left + right) / 2, (top + chin) / 2
    size = int(min(max(right - left, chin - top) * 1.7, width, height))
    x = int(np.clip(cx - size / 2, 0, width - size))
    y = int(np.clip(cy - size / 2, 0, height - size))
    return x, y, size


def init_avatars(image_file: Path, name: str, licence: str, out_root: Path = REPO_AVATARS,
                 voice: str | None = None, name_3d: str | None = None) -> tuple[Path, Path]:
    """Both avatars of one photo: ``out_root/name`` (the 2D portrait) and ``out_root/name_3d`` (default
    ``name-3d``: the 3D head, ``parley.face.head3d``), speaking with ``voice`` (a TTS model of the
    registry) if given. Returns their ``avatar.yaml`` paths; on any error nothing is left behind."""
    import shutil

    from parley.face.head3d import build_head

    name_3d = name_3d or f"{name}-3d"
    rgb = read_photo(image_file)
    mesh = face_mesh(rgb)
    landmarks = landmarks_of(mesh)
    check_face(landmarks)
    header = "# Written by `parley avatar init`"
    portrait = {
        "name": name,
        "kind": "portrait",
        "image": f"portrait{image_file.suffix.lower()}",
        "licence": licence,
        **({"voice": voice} if voice else {}),
        "crop": list(face_crop(landmarks, rgb.shape[1], rgb.shape[0])),
        "size": 512,
        "landmarks": {
            "points": {k: list(v) for k, v in landmarks.points.items()},
            "inner_lip_upper": [list(p) for p in landmarks.inner_lip_upper],
            "inner_lip_lower": [list(p) for p in landmarks.inner_lip_lower],
        },
    }
    head = {"name": name_3d, "kind": "glb", "model": "head.glb", "licence": licence,
            **({"voice": voice} if voice else {})}
    out_root.mkdir(parents=True, exist_ok=True)
    partials = {folder: out_root / f".{folder}.partial-{os.getpid()}" for folder in (name, name_3d)}
    try:
        for partial in partials.values():
            partial.mkdir()
        shutil.copyfile(image_file, partials[name] / portrait["image"])
        (partials[name] / "avatar.yaml").write_text(
            f"{header}; landmarks are MediaPipe face-mesh points in image pixels.\n"
            + yaml.safe_dump(portrait, sort_keys=False, default_flow_style=None))
        build_head(rgb, mesh, partials[name_3d] / "head.glb")
        (partials[name_3d] / "avatar.yaml").write_text(
            f"{header}: the photo's face mesh, textured with the photo and closed into a head "
            "(parley/face/head3d.py).\n" + yaml.safe_dump(head, sort_keys=False))
        for folder, partial in partials.items():
            _swap_in(partial, out_root / folder)
    finally:
        for partial in partials.values():
            shutil.rmtree(partial, ignore_errors=True)
    return out_root / name / "avatar.yaml", out_root / name_3d / "avatar.yaml"


def _swap_in(partial: Path, folder: Path) -> None:
    """Replace ``folder`` by ``partial`` whole; if that fails, the old folder stays."""
    import shutil

    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        folder.rename(old)
    try:
        partial.rename(folder)
    except OSError:
        if old.exists():
            old.rename(folder)
        raise
    shutil.rmtree(old, ignore_errors=True)

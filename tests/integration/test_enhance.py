"""``avatar init --enhance`` with the real Real-ESRGAN x4plus in ncnn (the README's test command
fetched it): four times the pixels, tiles that join without seams, and a portrait that still speaks."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml

from parley.config.avatar import REPO_AVATARS
from parley.face.avatars import load_avatar
from parley.face.make import enhance
from parley.face.make.enhance import MODEL, SCALE, upscale


@pytest.fixture(scope="module")
def model_dir(store):
    return store.require(MODEL)


def edges(height, width):
    """A dark square on a light ground, with a thin bright line: edges an upscaler must keep."""
    image = np.full((height, width, 3), 200, np.uint8)
    image[4:14, 5:17] = (40, 60, 90)
    image[17, 2:width - 2] = 255
    return image


@pytest.fixture(scope="module")
def small(model_dir):
    image = edges(20, 24)
    return image, upscale(image, model_dir)


def test_the_real_model_makes_a_small_image_four_times_larger(small):
    image, big = small
    assert big.shape == (20 * SCALE, 24 * SCALE, 3) and big.dtype == np.uint8
    # The same picture: close to a plain bicubic enlargement, only with sharper edges.
    bicubic = cv2.resize(image, (24 * SCALE, 20 * SCALE), interpolation=cv2.INTER_CUBIC)
    assert np.mean(np.abs(big.astype(float) - bicubic)) < 12
    square = big[4 * SCALE + 6:14 * SCALE - 6, 5 * SCALE + 6:17 * SCALE - 6]
    assert np.allclose(square.mean(axis=(0, 1)), (40, 60, 90), atol=15)


def test_tiles_join_without_seams(small, model_dir, monkeypatch):
    image, whole = small
    monkeypatch.setattr(enhance, "TILE", 12)  # four tiles, meeting across the square and the line
    difference = np.abs(upscale(image, model_dir).astype(int) - whole)
    # The network sees less around each tile than around the whole image, so a little differs; a tile
    # misplaced, or cut without its context, differs by far more.
    assert difference.mean() < 1.5 and difference.max() <= 24


def test_avatar_init_enhance_writes_a_larger_portrait_that_speaks(tmp_path, model_dir):
    photo = REPO_AVATARS / "portrait" / "portrait.png"
    proc = subprocess.run([sys.executable, "-m", "parley.cli", "avatar", "init", str(photo), "--name", "sharp",
                           "--licence", "public domain", "--voice", "hibari-heart", "--out-root", str(tmp_path),
                           "--enhance"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    made, shipped = load_avatar(str(tmp_path / "sharp" / "avatar.yaml")), load_avatar("portrait")
    assert yaml.safe_load((tmp_path / "sharp" / "avatar.yaml").read_text())["enhanced"] == MODEL
    image = cv2.imread(str(made.image_path))
    assert image is not None and made.image_path.suffix == ".png"
    x, y, side = shipped.crop
    assert made.crop[2] == SCALE * side and min(image.shape[:2]) > made.crop[2] >= SCALE * side
    # The same face, at four times the pixels: each landmark where the photo's lies, scaled.
    offset = np.array([x, y]) - np.array(made.crop[:2]) / SCALE
    for name, point in shipped.landmarks.points.items():
        assert np.allclose(np.array(made.landmarks.points[name]) / SCALE + offset, point, atol=1.0), name
    said = subprocess.run([sys.executable, "-m", "parley.cli", "say", "Hello there.", "--avatar",
                           str(made.folder / "avatar.yaml"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert said.returncode == 0, said.stderr
    assert (tmp_path / "out" / "video.mp4").stat().st_size > 10_000

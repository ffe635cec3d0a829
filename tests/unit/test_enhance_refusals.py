"""``avatar init --enhance`` without running the upscaler: the cases it refuses, and what it says."""

import numpy as np
import pytest

from parley.config import ModelRegistry
from parley.face.avatars import AvatarError, load_avatar
from parley.face.make.enhance import MODEL, sharpen_portrait, upscaler
from parley.models.store import ModelStore


def test_a_face_already_as_large_as_the_portrait_is_left_alone(tmp_path):
    landmarks = load_avatar("portrait").landmarks
    photo = np.zeros((600, 600, 3), np.uint8)
    with pytest.raises(AvatarError, match="already as large as the 512 the portrait shows"):
        sharpen_portrait(photo, (0, 0, 512), landmarks, 512, tmp_path / "no-model-needed")


def test_a_model_that_cannot_be_fetched_names_the_command_that_fetches_it(tmp_path):
    # Port 9 on loopback: nothing listens, so the fetch fails at once, as offline.
    registry = ModelRegistry.model_validate({"models": {MODEL: {
        "kind": "upscale", "description": "x", "license": "BSD-3-Clause",
        "files": [{"name": "m.bin", "sha256": "0" * 64}],
        "sources": [{"kind": "url", "files": {"m.bin": "http://127.0.0.1:9/m.bin"}}],
    }}})
    with pytest.raises(AvatarError) as err:
        upscaler(ModelStore(registry, home=tmp_path))
    message = str(err.value)
    assert f"`parley models fetch {MODEL}`" in message and "leave out --enhance" in message
    assert "cannot download" in message  # what was tried, from the store

import asyncio

import pytest

from parley.config import REPO_CONFIGS, load_settings
from parley.models.store import ModelStore
from testbed.serve import write_stack

CONFIGS = REPO_CONFIGS
# Greedy decoding, noise-free Piper and hibari's noise seeded: the same input gives the same words and
# the same audio, run after run, so a test with a threshold passes or fails for a reason, never by the draw.
DETERMINISTIC = {"llm.temperature": 0.0, "llm.seed": 1, "tts.noise_scale": 0.0, "tts.noise_w_scale": 0.0,
                 "tts.seed": 0}


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    """The default stack (configs/cpu.yaml), made deterministic."""
    return load_settings(write_stack(tmp_path_factory.mktemp("stack"), **DETERMINISTIC))


@pytest.fixture(scope="session")
def store(settings):
    return ModelStore(settings.registry)


@pytest.fixture(scope="session")
def parley(settings, store):
    """The default avatar, assembled as the server does; its engines load once, on first use (the
    README's test command fetched the models)."""
    from parley.assemble import Parley

    return Parley(settings, store)


@pytest.fixture(scope="session")
def engines(parley):
    return parley.engines


@pytest.fixture(scope="session")
def caller(store):
    """The voice callers speak with in the tests (Piper's joe, noise-free): not the avatar's, as on a
    real call."""
    from parley.config import TTSConfig
    from parley.engines.piper_tts import PiperEngine

    name = "piper-en_US-joe-medium"
    return PiperEngine(store.require(name), TTSConfig(voice=name, noise_scale=0.0, noise_w_scale=0.0))


def run(coro):
    return asyncio.run(coro)

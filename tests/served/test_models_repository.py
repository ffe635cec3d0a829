"""model_repository/ is what export/triton_repository.py generates, parses as Triton model configs,
and gives clients the same contract in both variants."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

mc = pytest.importorskip("tritonclient.grpc.model_config_pb2")
from google.protobuf import text_format  # noqa: E402  (after the skip: protobuf comes with tritonclient)

pytestmark = pytest.mark.triton

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = ROOT / "model_repository"
CONTRACT_MODELS = ("asr", "tts", "visemes", "speak", "llm", "vad", "lipsync")


def load(variant: str) -> dict[str, "mc.ModelConfig"]:
    configs = {}
    for path in sorted((REPOSITORY / variant).glob("*/config.pbtxt")):
        configs[path.parent.name] = text_format.Parse(path.read_text(), mc.ModelConfig())
    return configs


def io(config) -> tuple:
    tensors = lambda ts: sorted((t.name, t.data_type, tuple(t.dims)) for t in ts)  # noqa: E731
    return tensors(config.input), tensors(config.output), config.max_batch_size, \
        config.model_transaction_policy.decoupled


def test_the_committed_repository_is_what_the_generator_makes():
    proc = subprocess.run([sys.executable, "export/triton_repository.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_every_model_parses_is_named_after_its_folder_and_has_a_version(variant):
    configs = load(variant)
    assert set(CONTRACT_MODELS) <= set(configs)
    for name, config in configs.items():
        assert config.name == name
        assert (REPOSITORY / variant / name / "1").is_dir()
        if config.backend == "python":
            assert (REPOSITORY / variant / name / "1" / "model.py").is_file()


def test_both_variants_give_clients_the_same_contract():
    cpu, gpu = load("cpu"), load("gpu")
    for name in CONTRACT_MODELS:
        assert io(cpu[name]) == io(gpu[name]), name


def test_ensemble_steps_name_models_and_tensors_that_exist():
    for variant in ("cpu", "gpu"):
        configs = load(variant)
        speak = configs["speak"]
        produced = {t.name for t in speak.input}
        for step in speak.ensemble_scheduling.step:
            model = configs[step.model_name]
            assert set(step.input_map) <= {t.name for t in model.input}
            assert set(step.input_map.values()) <= produced
            assert set(step.output_map) <= {t.name for t in model.output}
            produced |= set(step.output_map.values())
        assert {t.name for t in speak.output} <= produced


def test_gpu_onnx_models_build_their_tensorrt_engine_once_before_the_first_caller():
    """A profile for every dynamic input (else TensorRT rebuilds mid-call when a longer input comes), the
    engine cached on the writable engines volume, and warm-up requests whose data files exist."""
    gpu = load("gpu")
    for name in ("vad", "tts_voice"):
        config = gpu[name]
        (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
        params = accelerator.parameters
        assert accelerator.name == "tensorrt" and params["trt_engine_cache_enable"] == "1"
        assert params["trt_engine_cache_path"] == f"/engines/ort/{name}"
        dynamic = {t.name for t in config.input if -1 in t.dims}
        for level in ("min", "opt", "max"):
            profiled = {s.split(":")[0] for s in params.get(f"trt_profile_{level}_shapes", "").split(",") if s}
            assert dynamic <= profiled, (name, level)
        assert config.model_warmup, name
        for warmup in config.model_warmup:
            for input_name, data in warmup.inputs.items():
                assert input_name in {t.name for t in config.input}
                if data.input_data_file:
                    raw = (REPOSITORY / "gpu" / name / "warmup" / data.input_data_file).read_bytes()
                    itemsize = 8 if data.data_type == mc.TYPE_INT64 else 4
                    assert len(raw) == itemsize * int(np.prod(data.dims)), (name, input_name)
    max_shapes = gpu["tts_voice"].optimization.execution_accelerators.gpu_execution_accelerator[0] \
        .parameters["trt_profile_max_shapes"]
    assert "input:1x2048" in max_shapes


def test_gpu_python_models_serve_sessions_concurrently():
    """One synchronous instance runs one request at a time: every session would wait for the others'
    whole transcription or reply. asr and tts have several instances; llm is a coroutine."""
    import ast

    gpu = load("gpu")
    for name in ("asr", "tts"):
        assert sum(g.count for g in gpu[name].instance_group) >= 8, name
    tree = ast.parse((REPOSITORY / "gpu" / "llm" / "1" / "model.py").read_text())
    execute = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
               and n.name == "execute"]
    assert len(execute) == 1 and isinstance(execute[0], ast.AsyncFunctionDef)
    assert gpu["llm"].model_transaction_policy.decoupled  # async execute is for decoupled models


def test_the_llm_engine_is_built_for_the_kv_cache_reuse_its_config_asks_for():
    engine = load("gpu")["tensorrt_llm"].parameters
    assert engine["enable_kv_cache_reuse"].string_value == "true"
    build = (ROOT / "export" / "trtllm" / "build_llm.sh").read_text()
    assert "--use_paged_context_fmha enable" in build
    # A token budget per model: two TensorRT-LLM models share one process's GPU memory.
    assert int(engine["max_tokens_in_paged_kv_cache"].string_value) > 0


def test_whisper_engine_takes_what_the_asr_model_sends_in_the_image_that_serves_it(store):
    """Encoder features as input exist in the TensorRT-LLM backend from 0.15 (NGC 24.11); Triton refuses
    inputs a config does not declare."""
    sys.path.insert(0, str(ROOT / "export"))
    try:
        import triton_gpu
    finally:
        sys.path.pop(0)
    assert tuple(int(x) for x in triton_gpu.RELEASE.split(".")) >= (24, 11)
    whisper = load("gpu")["whisper_tensorrt_llm"]
    declared = {t.name for t in whisper.input}
    from tests.served.test_models_gpu_python import initialized, load_model

    model = initialized(load_model("asr"), "asr")
    sent = model.engine_inputs(np.zeros(16000, np.float32), "library")
    assert set(sent) <= declared and "encoder_input_features" in sent
    assert "input_ids" not in {t.name for t in whisper.input if not t.optional}

"""model_repository/ is what export/triton_repository.py generates, parses as Triton model configs,
and gives clients the same contract in both variants."""

import subprocess
import sys
from pathlib import Path

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

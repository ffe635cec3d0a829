"""perf/gpu_check.py: its dynamic-batcher simulation on latencies whose answers are known, a run that
keeps every section's numbers when one fails, and the quick CPU run of the whole script."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from perf.gpu_check import p99, run_sections, sessions_within_a_frame, simulate

ROOT = Path(__file__).resolve().parents[2]


def test_a_lone_session_waits_the_queue_delay_then_its_batch_of_one():
    latencies = simulate(lambda b: 0.010, sessions=1, fps=25, seconds=2)
    assert len(latencies) == 50
    assert all(abs(x - 0.012) < 1e-9 for x in latencies)  # 2 ms for company, 10 ms of compute


def test_a_full_batch_runs_at_once():
    # 64 sessions in phase: two full batches back to back, no waiting for the deadline.
    latencies = simulate(lambda b: 0.004, sessions=64, fps=10, seconds=1, delay_s=0.5, seed=0)
    assert max(latencies) < 1 / 10 + 0.008  # phases spread over a frame, then at most two batches


def test_capacity_follows_the_batch_cost():
    # A batch costs 1 ms plus 0.5 ms a frame: a 40 ms frame holds ~60-70 frames' work at batch 32.
    cost = lambda b: 0.001 + 0.0005 * b  # noqa: E731
    n = sessions_within_a_frame(cost, fps=25)
    assert 40 <= n <= 75, n
    assert p99(simulate(cost, n, 25, seconds=4)) <= 1 / 25
    assert p99(simulate(cost, 2 * n, 25, seconds=4)) > 1 / 25  # twice the load: the queue grows


def test_a_failed_section_keeps_the_numbers_before_it_and_says_what_it_lacked(tmp_path):
    def needs_diffusers():
        raise ModuleNotFoundError("No module named 'diffusers'", name="diffusers")

    path = tmp_path / "gpu_check.json"
    result = {"machine": {}}
    failed = run_sections({"wav2lip": lambda: [{"batch": 1}], "musetalk": needs_diffusers,
                           "llm": lambda: [{"batch": 2}]}, result, path)
    assert failed == ["musetalk"]
    written = json.loads(path.read_text())
    assert written["wav2lip"] == [{"batch": 1}] and written["llm"] == [{"batch": 2}]
    assert written["musetalk"]["error"].startswith("diffusers is missing here: carry its wheel")


def test_musetalks_unet_gets_its_timestep_as_a_tensor_on_the_models_device():
    """diffusers copies a Python number to the device at every call, which a CUDA graph cannot capture."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from export.networks.musetalk import TEST_UNET_CONFIG, TEST_VAE_CONFIG, FrameModel, build_unet, build_vae

    model = FrameModel(build_unet(TEST_UNET_CONFIG).eval(), build_vae(TEST_VAE_CONFIG).eval())
    seen = []
    model.unet.register_forward_pre_hook(lambda module, args, kwargs: seen.append(args[1]), with_kwargs=True)
    with torch.inference_mode():
        model(torch.randn(1, 8, 32, 32), torch.randn(1, 50, 384))
    assert torch.is_tensor(seen[0]) and seen[0].device == model.pe.device and int(seen[0]) == 0


def test_the_quick_cpu_run_writes_every_section(tmp_path):
    for module in ("torch", "diffusers", "transformers"):
        pytest.importorskip(module)
    command = [sys.executable, "-m", "perf.gpu_check", "--device", "cpu", "--quick", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    written = json.loads((tmp_path / "gpu_check.json").read_text())
    assert set(written) == {"machine", "wav2lip", "musetalk", "sessions", "whisper", "llm", "seconds"}
    for section in ("wav2lip", "musetalk", "sessions", "whisper", "llm"):
        assert isinstance(written[section], list) and written[section], section
    assert {row["network"] for row in written["sessions"]} == {"wav2lip", "musetalk"}

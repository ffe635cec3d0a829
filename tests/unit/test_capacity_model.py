"""The capacity model's arithmetic, on a capacity report with known answers."""

import pytest

from perf.capacity_model import cpu_stack, gpu_sessions, plan

REPORT = {"machine": {"cpu_count": 2}, "rows": [
    {"callers": 1, "video_fps": {"min": 30.0, "mean": 30.0}, "rss_mb": 900.0},
    {"callers": 2, "video_fps": {"min": 29.0, "mean": 29.5}, "rss_mb": 1000.0},
    {"callers": 3, "video_fps": {"min": 5.0, "mean": 12.0}, "rss_mb": 1100.0},
]}


def test_per_call_costs_come_from_the_most_callers_served_at_full_rate():
    cpu = cpu_stack(REPORT)
    assert cpu["callers_at_full_rate"] == 2 and cpu["cores_per_call"] == 1.0
    assert cpu["memory_per_call_mb"] == 100.0 and cpu["server_base_mb"] == 800.0


def test_a_report_with_no_count_at_full_rate_is_refused():
    slow = {**REPORT, "rows": [{**r, "video_fps": {"min": 3.0, "mean": 30.0}} for r in REPORT["rows"]]}
    with pytest.raises(SystemExit, match="full rate"):
        cpu_stack(slow)


def test_nodes_and_gpus_for_a_count_of_callers():
    cpu = cpu_stack(REPORT)
    # 16 cores at 80 %: 12 calls a node at a core each; 0.4 cores a call on the GPU stack: 32.
    row = plan(100, cpu, {"cores_per_call": 0.4}, per_gpu=40, cores=16, memory_gb=64, max_sessions=8)
    assert row["cpu_only_nodes"] == 9 and row["gpu_stack_orchestrator_nodes"] == 4
    assert row["gpu_stack_orchestrator_pods"] == 13 and row["gpus"] == 3 and row["binds_first"] == "orchestrator CPU"
    # Memory binds before CPU on a small node: (4 GB at 80 % - 800 MB) / 100 MB = 24 calls.
    assert plan(100, cpu, {"cores_per_call": 0.1}, None, cores=64, memory_gb=4, max_sessions=8)[
        "gpu_stack_orchestrator_nodes"] == 5


def test_gpu_sessions_are_read_for_the_network_and_rate():
    report = {"sessions": [{"network": "wav2lip", "fps": 30, "sessions_p99_within_a_frame": 48},
                           {"network": "musetalk", "fps": 30, "sessions_p99_within_a_frame": 6}]}
    assert gpu_sessions(report, "musetalk", 30.0) == 6
    assert gpu_sessions({"sessions": {"error": "no GPU"}}, "wav2lip", 30.0) is None  # a section that failed

"""perf/gpu_check.py's dynamic-batcher simulation, on latencies whose answers are known."""

from perf.gpu_check import p99, sessions_within_a_frame, simulate


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

"""Dynamic time warping, the aligner's core, on sequences whose true pairing is known."""

import numpy as np

from parley.speak.align import _time_map, warping_path


def sequence(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 8)).astype(np.float32)


def test_a_sequence_pairs_with_itself_on_the_diagonal():
    a = sequence(50)
    path = warping_path(a, a)
    assert (path[:, 0] == path[:, 1]).all() and len(path) == 50


def test_a_stretched_copy_is_paired_frame_for_frame():
    a = sequence(40)
    stretched = np.repeat(a, [1 if i % 2 else 2 for i in range(40)], axis=0)  # every other frame held twice
    path = warping_path(a, stretched)
    where = _time_map(path, len(a))
    truth = np.cumsum([1 if i % 2 else 2 for i in range(40)]) - 1
    assert np.abs(where - truth).max() <= 0.5  # a held frame maps to the middle of its two copies


def test_the_path_runs_from_start_to_end_and_never_goes_back():
    a, b = sequence(30, 1), sequence(45, 2)
    path = warping_path(a, b)
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (29, 44)
    steps = np.diff(path, axis=0)
    assert ((steps >= 0) & (steps <= 1)).all() and (steps.sum(1) >= 1).all()
    assert (np.diff(_time_map(path, 30)) >= 0).all()

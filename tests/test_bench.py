"""tools/bench/speed.py: every figure comes out, and the timed train phase runs no test episodes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from run import Experiment
from tools.bench import speed

FIGURES = {"raw_env_sps", "env_sps", "env_vs_raw", "collect_sps", "collect_vs_env", "updates_per_s", "train_sps",
           "sec_per_10k", "train_vs_env", "buffer_mib", "peak_rss_mib"}


def test_bench_writes_every_figure_and_times_training_without_tests(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_tests(self: Any) -> None:
        raise AssertionError("the train phase ran test episodes")

    monkeypatch.setattr(Experiment, "test", no_tests)
    out = tmp_path / "bench.json"
    code = speed.main(["--config", "qmix", "--compare", "vdn", "--env-config", "lbf", "--steps", "200", "--updates", "2",
                       "--rounds", "1", "--json", str(out), "with", "batch_size=4", "buffer_size=16", "use_cuda=False"])
    assert code == 0
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"qmix", "vdn"}
    for figures in results.values():
        assert FIGURES <= set(figures)
        assert all(figures[k] > 0 for k in FIGURES)
        assert figures["faults_per_update"] >= 0
        assert figures["train_vs_env"] == pytest.approx(figures["train_sps"] / figures["env_sps"])
        assert figures["env_vs_raw"] == pytest.approx(figures["env_sps"] / figures["raw_env_sps"])
        assert figures["collect_vs_env"] == pytest.approx(figures["collect_sps"] / figures["env_sps"])


def test_random_available_draws_only_available_actions_uniformly() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    avail = np.array([[0, 1, 1, 0, 1], [1, 0, 0, 0, 0]])
    draws = np.array([speed.random_available(rng, avail) for _ in range(6000)])
    assert set(draws[:, 1]) == {0}
    counts = np.bincount(draws[:, 0], minlength=5)
    assert counts[[0, 3]].sum() == 0 and counts[[1, 2, 4]].min() > 1800


def test_fill_buffer_tops_the_buffer_up_with_copies_to_the_asked_size() -> None:
    from components.episode_buffer import EpisodeBatch
    from components.replay_buffer import ReplayBuffer

    scheme = {"x": {"vshape": (1,)}}
    batches = [EpisodeBatch(scheme, {}, n, 3) for n in (2, 1)]
    for fill, held in ((6, 6), (7, 8), (50, 10), (0, 0)):  # whole batches: 2, 3, 5, 6, 8, ...; at most the capacity
        buffer = ReplayBuffer(scheme, {}, buffer_size=10, max_seq_length=3)
        speed.fill_buffer(buffer, batches, fill)
        assert buffer.episodes_in_buffer == held

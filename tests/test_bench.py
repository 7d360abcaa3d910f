"""scripts/bench.py: every figure comes out, and the timed train phase runs no test episodes."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))

import bench  # noqa: E402
from run import Experiment  # noqa: E402

FIGURES = {"env_sps", "collect_sps", "updates_per_s", "train_sps", "sec_per_10k", "train_vs_env", "buffer_mib", "peak_rss_mib"}


def test_bench_writes_every_figure_and_times_training_without_tests(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_tests(self: Any) -> None:
        raise AssertionError("the train phase ran test episodes")

    monkeypatch.setattr(Experiment, "test", no_tests)
    out = tmp_path / "bench.json"
    code = bench.main(["--config", "qmix", "--compare", "vdn", "--env-config", "lbf", "--steps", "200", "--updates", "2",
                       "--rounds", "1", "--json", str(out), "with", "batch_size=4", "buffer_size=16", "use_cuda=False"])
    assert code == 0
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"qmix", "vdn"}
    for figures in results.values():
        assert FIGURES <= set(figures)
        assert all(figures[k] > 0 for k in FIGURES)
        assert figures["train_vs_env"] == pytest.approx(figures["train_sps"] / figures["env_sps"])

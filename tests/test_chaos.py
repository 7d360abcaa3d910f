"""tools/analysis/metrics_diff.py on hand-made metrics, and tools/bench/chaos.py end to end (two kills)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.analysis.metrics_diff import compare_metrics

ROOT = Path(__file__).resolve().parents[1]


def series(steps: list[int], values: list[float]) -> dict:
    return {"steps": steps, "values": values, "timestamps": ["t"] * len(steps)}


def test_compare_metrics_finds_gaps_duplicates_and_changed_values():
    reference = {
        "return_mean": series([10, 20, 30, 40], [0.1, 0.2, 0.3, 0.4]),
        "loss_td": series([20, 40], [1.5, 1.25]),
        "steps_per_sec": series([10], [900.0]),
    }
    resumed = {
        "return_mean": series([10, 20, 20, 40], [0.1, 0.2, 0.2, 0.4]),  # 30 lost, 20 logged twice
        "loss_td": series([20, 40, 50], [1.5, 1.0, 2.0]),  # 40 differs, 50 is extra
        "steps_per_sec": series([10], [450.0]),  # timing: not compared
    }
    diff = compare_metrics(reference, resumed)
    assert diff.lost == {"return_mean": [30]} and diff.steps_lost == 1
    assert diff.duplicated == {"return_mean": [20]} and diff.steps_duplicated == 1
    assert diff.mismatched == {"loss_td": [40]}
    assert diff.extra == {"loss_td": [50]}
    assert not diff.curves_match
    assert "metric steps lost (gaps against the reference): 1" in diff.summary()
    assert compare_metrics(reference, {k: dict(v) for k, v in reference.items()}).curves_match


@pytest.mark.slow
def test_chaos_script_passes_with_two_kills(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench.chaos", "--kills", "2", "--seed", "3", "--t-max", "800", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "metric steps lost (gaps against the reference): 0" in out
    assert "metric steps duplicated: 0" in out and "curves identical: yes" in out
    assert "kill 1: SIGKILL" in out and "CHAOS CHECK PASSED" in out

"""tools/checks/data_limit_check.py: the stretched variant, the sweeps it starts and its table."""

from __future__ import annotations

import pytest

from tools.checks import data_limit_check as dl
from tools.checks import method_comparison as mc
from tools.sweep import cli

TASK = "Foraging-8x8-2p-3f-v3"


def test_factor_spec_stretches_every_schedule_counted_in_steps_or_episodes() -> None:
    assert dl.factor_spec("qmix", TASK, 1) == "qmix"
    label, config, overrides = mc.parse_alg(dl.factor_spec("qmix", TASK, 3))
    assert (label, config) == ("qmix_x3", "qmix")
    assert set(overrides) == {"name=qmix_x3", "batch_size_run=12", "epsilon_anneal_time=300000", "target_update_interval=600"}


def test_runs_each_factor_at_its_budget_and_reports_on_the_update_axis(monkeypatch, tmp_path, capsys) -> None:
    calls = []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 0)
    record = tmp_path / "runs.csv"
    row = {"task": TASK, "final": "0.5", "minutes": "2.0"}
    mc.write_record(record, [
        *[{**row, "alg": "qmix", "seed": str(s), "t_max": "100000", "experiment": "a", "auc": str(0.4 + 0.01 * s)} for s in (1, 2, 3)],
        *[{**row, "alg": "qmix_x2", "seed": str(s), "t_max": "200000", "experiment": "b", "auc": str(0.6 + 0.01 * s)} for s in (1, 2, 3)],
    ])
    assert dl.main(["--factors", "1", "2", "--seeds", "1", "--out", str(tmp_path / "out"), "--record", str(record)]) == 0
    assert len(calls) == 2 and "t_max=100000" in calls[0] and "t_max=200000" in calls[1]  # fingerprints "a"/"b" are not these runs'
    assert "batch_size_run=8" in calls[1] and "batch_size_run=8" not in calls[0]
    out = capsys.readouterr().out
    assert "| 1 | qmix | 3 | 0.420" in out and "| 2 | qmix_x2 | 3 | 0.620" in out and "| 1.48 |" in out


def test_factors_below_one_are_refused(tmp_path) -> None:
    with pytest.raises(SystemExit, match="--factors must be whole numbers >= 1, got \\[0, 2\\]"):
        dl.main(["--factors", "0", "2", "--record", str(tmp_path / "r.csv"), "--report-only"])

"""The checks' shared reader (tools/checks/runs.py): AUC, collection from sacred folders, the printed table."""

import json

import pytest

from tools.checks import runs
from tools.checks.runs import collect, print_table, run_grid
from tools.checks.salemb_comparison import print_diagnostics, salemb_diagnostics, verdicts


def write_run(root, alg, task, seed, steps, values, status="COMPLETED", minutes=10, t_max=2000):
    run_dir = root / "sacred" / task / alg / str(seed)
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"name": alg, "seed": seed, "env_args": {"key": task}, "t_max": t_max}))
    (run_dir / "run.json").write_text(json.dumps({
        "status": status, "start_time": "2026-01-01T10:00:00", "stop_time": f"2026-01-01T10:{minutes:02d}:00"}))
    (run_dir / "metrics.json").write_text(json.dumps({
        "test_return_mean": {"steps": steps, "values": values}, "steps_per_sec": {"steps": [steps[-1]], "values": [50.0]}}))


def test_collect_reads_completed_runs_and_prints_goals(tmp_path, capsys):
    write_run(tmp_path, "qmix", "T", 1, [0, 1000, 2000], [0.0, 0.5, 1.0])
    write_run(tmp_path, "qmix", "T", 2, [0, 1000, 2000], [0.0, 0.2, 0.6], minutes=20)
    write_run(tmp_path, "qmix", "T", 3, [0, 1000], [0.0, 0.1], status="FAILED")
    rows = collect(tmp_path)
    runs = sorted(rows[("qmix", "T")], key=lambda r: r["seed"])
    assert [r["seed"] for r in runs] == [1, 2]
    assert runs[0]["auc"] == pytest.approx(0.5) and runs[1]["auc"] == pytest.approx(0.25)
    assert runs[0]["wall_10k"] == pytest.approx(600 / 2000 * 10_000)
    print_table(rows, {("qmix", "T"): 0.8})
    out = capsys.readouterr().out
    assert "mean   0.800" in out and "goal every seed >= 0.8: NOT met" in out


def test_run_grid_skips_completed_runs_only(tmp_path, monkeypatch, capsys):
    write_run(tmp_path, "qmix", "T", 1, [0, 2000], [0.0, 1.0])
    write_run(tmp_path, "qmix", "T", 2, [0, 1000], [0.0, 0.1], status="FAILED")
    write_run(tmp_path, "vdn", "T", 1, [0, 500], [0.0, 0.1], t_max=500)
    started = []
    monkeypatch.setattr(runs, "run_one", lambda *job: started.append(job[:4]) or (1.0, 0))
    run_grid([("qmix", "T", 1, 2000), ("qmix", "T", 2, 2000), ("vdn", "T", 1, 2000)], tmp_path, [], 1)
    assert started == [("qmix", "T", 2, 2000), ("vdn", "T", 1, 2000)]
    assert "1 of 3 runs completed before" in capsys.readouterr().out


def test_run_grid_starts_in_a_folder_that_does_not_exist_yet(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(runs, "run_one", lambda *job: started.append(job[:4]) or (1.0, 0))
    run_grid([("qmix", "T", 1, 2000)], tmp_path / "new", [], 1)
    assert started == [("qmix", "T", 1, 2000)]


def test_run_grid_puts_each_task_settings_before_the_user_overrides(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(runs, "run_one", lambda *job: started.append((job[1], job[5])) or (1.0, 0))
    run_grid([("qmix", "A", 1, 2000), ("qmix", "B", 1, 2000)], tmp_path, ["seed=9"], 1,
             {"A": ["runner=parallel", "epsilon_anneal_time=20000"]})
    assert started == [("A", ["runner=parallel", "epsilon_anneal_time=20000", "seed=9"]), ("B", ["seed=9"])]


def test_salemb_diagnostics_read_the_gate_model_error_and_embedding_spread(tmp_path, capsys):
    write_run(tmp_path, "salemb", "T", 1, [0, 2000], [0.0, 1.0])
    write_run(tmp_path, "qmix", "T", 1, [0, 2000], [0.0, 1.0])
    metrics_file = tmp_path / "sacred" / "T" / "salemb" / "1" / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    metrics.update({
        "imagine_gate_open": {"steps": [1, 2, 3, 4], "values": [0.0, 1.0, 1.0, 1.0]},
        "wm_eval_obs_mse": {"steps": [1, 2, 3], "values": [2.0, 1.0, 3.0]},
        "wm_eval_obs_mse_copy_last": {"steps": [1, 2, 3], "values": [1.0, 2.0, 2.0]},
        "sale_zs_spread": {"steps": [1, 2], "values": [0.5, 0.2]},
    })
    metrics_file.write_text(json.dumps(metrics))
    rows = salemb_diagnostics(tmp_path)
    assert len(rows) == 1
    row = rows[0]
    assert row["gate_open"] == 0.75 and row["obs_error_ratio"] == 1.5
    assert (row["spread_first"], row["spread_last"]) == (0.5, 0.2)
    print_diagnostics(rows)
    assert "0.75" in capsys.readouterr().out


def test_collect_leaves_out_evaluate_only_runs_and_warns_when_experiments_mix(tmp_path, capsys):
    write_run(tmp_path, "qmix", "T", 1, [0, 2000], [0.0, 1.0])
    write_run(tmp_path, "qmix", "T", 2, [0, 4000], [0.0, 0.5], t_max=4000)
    evaluate = tmp_path / "sacred" / "T" / "qmix" / "3"
    write_run(tmp_path, "qmix", "T", 3, [2000], [0.9])
    (evaluate / "config.json").write_text(json.dumps({"name": "qmix", "seed": 3, "env_args": {"key": "T"}, "t_max": 2000, "evaluate": True}))
    rows = collect(tmp_path)
    assert sorted(r["seed"] for r in rows[("qmix", "T")]) == [1, 2]
    assert f"warning: qmix on T: the runs under {tmp_path} are 2 different experiments (they differ in t_max)" in capsys.readouterr().err


def test_verdicts_say_nothing_about_algorithms_without_runs(capsys):
    rows = {("qmix", "T"): [{"final": 0.5, "wall_10k": 10.0}], ("salemb", "T"): [{"final": 0.4, "wall_10k": 20.0}]}
    verdicts(rows)
    line = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert line == ["T", "0.400", "0.500", "-", "-", "2.000"]  # no VDN run: no verdict, no nan
    rows[("vdn", "T")] = [{"final": 0.3, "wall_10k": 9.0}]
    verdicts(rows)
    assert capsys.readouterr().out.strip().splitlines()[-1].split()[4] == "no"

"""The checks' shared parts (tools/checks/runs.py): their grids through the sweep, collection from sacred folders,
AUC, the printed table."""

import functools
import json
import sys
from pathlib import Path

import pytest

from tools.checks import learning_check, mamujoco_check, salemb_comparison
from tools.checks.runs import collect, print_table
from tools.checks.salemb_comparison import print_diagnostics, salemb_diagnostics, verdicts
from tools.sweep import cli

FAKE_MAIN = (sys.executable, str(Path(__file__).resolve().parent / "fake_main.py"))


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


def test_learning_check_sweeps_each_task_at_its_budget_with_its_settings_before_the_users(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 0)
    write_run(tmp_path, "qmix", "T", 1, [0, 2000], [0.0, 1.0])
    assert learning_check.main(["--algs", "qmix", "vdn", "--seeds", "2", "--scale", "0.5", "--out", str(tmp_path), "lr=0.01"]) == 0
    five, eight = calls
    assert five[five.index("--configs") + 1:five.index("--env-config")] == ["qmix", "vdn"]
    assert five[five.index("--set") + 1] == "env_args.key=Foraging-5x5-2p-1f-v3" and "t_max=25000" in five
    assert five[five.index("--seed-list") + 1:five.index("--jobs")] == ["1", "2"] and "test_interval=1000" in five
    assert five[-4:] == ["runner=parallel", "batch_size_run=4", "epsilon_anneal_time=20000", "lr=0.01"]
    assert eight[eight.index("--set") + 1] == "env_args.key=Foraging-8x8-2p-3f-v3" and "t_max=200000" in eight
    assert eight[-3:] == ["runner=parallel", "batch_size_run=4", "lr=0.01"] and "test_interval=5000" in eight


def test_salemb_comparison_is_one_sweep_over_its_tasks(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 1)
    write_run(tmp_path, "qmix", "T", 1, [0, 2000], [0.0, 1.0])
    assert salemb_comparison.main(["--tasks", "A", "B", "--seeds", "1", "--t-max", "4000", "--out", str(tmp_path)]) == 1
    (argv,) = calls
    assert argv[argv.index("--set") + 1] == "env_args.key=A,B" and "t_max=4000" in argv and "test_nepisode=50" in argv


def test_mamujoco_check_sweeps_its_task_and_says_when_no_run_completed(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 0)
    code = mamujoco_check.main(["--t-max", "2000", "--seeds", "3", "--algs", "facmac", "--out", str(tmp_path),
                                "with", "start_steps=500"])
    assert code == 1 and f"no completed runs under {tmp_path}" in capsys.readouterr().err
    (argv,) = calls
    assert argv[:argv.index("--jobs")] == ["--configs", "facmac", "--env-config", "mamujoco", "--seed-list", "3"]
    assert argv[-4:] == ["test_nepisode=10", "env_args.scenario=HalfCheetah", "env_args.agent_conf=2x3", "start_steps=500"]


def test_a_check_started_again_skips_the_runs_the_sweep_completed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "main", functools.partial(cli.main, main_command=FAKE_MAIN))
    argv = ["--algs", "qmix", "--tasks", "Foraging-5x5-2p-1f-v3", "--seeds", "2", "--scale", "0.02", "--jobs", "1",
            "--out", str(tmp_path)]
    assert learning_check.main(argv) == 0
    assert "sweep: 2 grid points: 0 done before, 2 done now, 0 failed" in capsys.readouterr().err
    assert learning_check.main(argv) == 0
    out, err = capsys.readouterr()
    assert "sweep: 2 grid points: 2 done before, 0 done now, 0 failed" in err
    assert [line.split()[2] for line in out.splitlines()[1:]] == ["1", "2", "mean"]  # both seeds read back


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

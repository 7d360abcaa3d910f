"""plot.py, compare.py and their shared reader and statistics, on a synthetic sacred results tree."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tools.analysis import compare, plot
from tools.analysis.results_groups import load_curves, load_groups, select
from tools.analysis.results_io import task_name
from tools.analysis.results_stats import (
    area_under_curve,
    common_grid,
    iqm,
    performance_profile,
    probability_of_improvement,
    smooth,
    stratified_bootstrap_ci,
)

QMIX_FINALS = [0.1, 0.5, 0.6, 0.7, 2.0]


def write_run(root: Path, alg: str, env_args: dict, seed: int, steps: list, values: list,
              status: str = "COMPLETED", start: str = "2026-01-01T10:00:00", **config) -> Path:
    task = task_name(env_args)
    parent = root / "sacred" / task / alg
    parent.mkdir(parents=True, exist_ok=True)
    run_dir = parent / str(len(list(parent.iterdir())) + 1)
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"name": alg, "seed": seed, "env_args": env_args, **config}))
    (run_dir / "run.json").write_text(json.dumps({"status": status, "start_time": start}))
    (run_dir / "metrics.json").write_text(json.dumps({
        "test_return_mean": {"steps": steps, "values": values},
        "return_mean": {"steps": steps, "values": [v / 2 for v in values]},
    }))
    return run_dir


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """LBF task T1: qmix finals QMIX_FINALS with the mid point at half the final (AUC = final / 2), vdn
    constant 1.0 after step 0, one failed qmix seed; SMAC map 3m: three qmix seeds logged at other steps."""
    lbf = {"key": "T1", "seed": 1}
    for seed, final in enumerate(QMIX_FINALS, 1):
        write_run(tmp_path, "qmix", lbf, seed, [0, 100, 200], [0.0, final / 2, final])
        write_run(tmp_path, "vdn", lbf, seed, [0, 100, 200], [0.0, 1.0, 1.0])
    write_run(tmp_path, "qmix", lbf, 6, [0, 100], [0.0, 50.0], status="FAILED")
    write_run(tmp_path, "qmix", {"map_name": "3m"}, 1, [0, 110, 190], [0.0, 1.1, 1.9])
    write_run(tmp_path, "qmix", {"map_name": "3m"}, 10, [0, 110, 190], [0.0, 1.1, 1.9])
    write_run(tmp_path, "qmix", {"map_name": "3m"}, 2, [0, 90, 210], [0.0, 0.9, 2.1])
    return tmp_path


def test_task_name_matches_the_sacred_folder_names_of_run_py():
    from run import task_name as run_task_name

    for env_args in ({"map_name": "3m", "key": "x"}, {"key": "Foraging-8x8-2p-3f-v3"},
                     {"scenario": "HalfCheetah", "agent_conf": "2x3"}, {"scenario": "Ant"}, {}):
        assert task_name(env_args) == run_task_name(env_args)


def test_statistics_on_known_numbers():
    assert iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # drops 1, 2 and 7, 8
    assert iqm(np.array([3.0, 1.0, 2.0])) == pytest.approx(2.0)  # fewer than 4 values: the mean
    np.testing.assert_allclose(iqm(np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [100.0, 0.0]]), axis=0), [2.5, 15.0])
    assert area_under_curve(np.array([0, 10, 30]), np.array([0.0, 1.0, 1.0])) == pytest.approx((5 + 20) / 30)
    assert area_under_curve(np.array([7]), np.array([0.4])) == 0.4
    np.testing.assert_allclose(smooth(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(smooth(np.array([1.0, 3.0]), 1), [1.0, 3.0])
    with pytest.raises(ValueError, match="window must be >= 1"):
        smooth(np.array([1.0]), 0)


def test_bootstrap_resamples_within_each_stratum():
    # Stratum sizes are kept in every sample, so the mean of {0,0,0} + {1,1} is always 2/5.
    low, high = stratified_bootstrap_ci([np.zeros(3), np.ones(2)], np.mean)
    assert low == pytest.approx(0.4) and high == pytest.approx(0.4)
    low, high = stratified_bootstrap_ci([np.array(QMIX_FINALS)], iqm)
    assert 0.1 <= low < iqm(np.array(QMIX_FINALS)) < high <= 2.0
    again = stratified_bootstrap_ci([np.array(QMIX_FINALS)], iqm)
    assert (low, high) == again  # a fixed seed: the same table every time


def test_common_grid_interpolates_onto_the_shared_span():
    grid, values = common_grid([(np.array([0.0, 90, 210]), np.array([0.0, 0.9, 2.1])),
                                (np.array([0.0, 110, 190]), np.array([0.0, 1.1, 1.9]))])
    np.testing.assert_allclose(grid, [0, 95, 190])
    np.testing.assert_allclose(values, [[0, 0.95, 1.9], [0, 0.95, 1.9]])
    with pytest.raises(ValueError, match="share no steps"):
        common_grid([(np.array([0.0, 10]), np.zeros(2)), (np.array([20.0, 30]), np.zeros(2))])


def test_loading_groups_completed_runs_by_task_and_algorithm(tree):
    groups = load_curves(tree, "test_return_mean")
    assert sorted(groups) == [("3m", "qmix"), ("T1", "qmix"), ("T1", "vdn")]
    assert [c.run.seed for c in groups[("T1", "qmix")]] == [1, 2, 3, 4, 5]
    assert [c.run.seed for c in groups[("3m", "qmix")]] == [1, 2, 10]  # seeds in numeric order
    assert len(load_curves(tree, "test_return_mean", include_unfinished=True)[("T1", "qmix")]) == 6
    assert sorted(select(groups, ["T1"], ["vdn"])) == [("T1", "vdn")]
    with pytest.raises(ValueError, match="--algs iql: not in the results; present: qmix, vdn"):
        select(groups, None, ["iql"])
    with pytest.raises(ValueError, match="metrics logged there: return_mean, test_return_mean"):
        load_curves(tree, "test_battle_won_mean")


def test_a_repeated_seed_counts_once_and_other_configs_make_their_own_groups(tmp_path):
    older = write_run(tmp_path, "qmix", {"key": "T"}, 1, [0, 10], [0.0, 1.0], start="2026-01-01T10:00:00", lr=0.001)
    newer = write_run(tmp_path, "qmix", {"key": "T"}, 1, [0, 10], [0.0, 3.0], start="2026-01-02T10:00:00", lr=0.001,
                      unique_token="b", local_results_path="/elsewhere")  # output keys: the same experiment
    write_run(tmp_path, "qmix", {"key": "T"}, 2, [0, 10], [0.0, 5.0], lr=0.01)
    loaded = load_groups(tmp_path, "test_return_mean")
    assert sorted(loaded.curves) == [("T", "qmix lr=0.001"), ("T", "qmix lr=0.01")]
    assert [c.values[-1] for c in loaded.curves[("T", "qmix lr=0.001")]] == [3.0]
    assert [(lo.path, lo.reason) for lo in loaded.left_out] == [
        (older, f"same experiment and seed 1 as {newer}, which started later")]
    assert loaded.splits == {("T", "qmix"): ["lr"]}
    assert sorted(select(loaded.curves, None, ["qmix"])) == sorted(loaded.curves)
    split = load_curves(tmp_path, "test_return_mean", split_keys=("env_args.key",))
    assert sorted(split) == [("T", "qmix key=T lr=0.001"), ("T", "qmix key=T lr=0.01")]


def test_a_mixed_folder_groups_by_experiment_and_lists_what_it_left_out(tmp_path, capsys):
    """Different t_max, an evaluate-only run, a failed and an unfinished run: no run is pooled with
    another experiment's, and every run left out is named with why, in compare.py's and plot.py's output."""
    lbf = {"key": "T1"}
    short = [write_run(tmp_path, "qmix", lbf, s, [0, 100, 200], [0.0, 0.2, 0.3], t_max=200) for s in (1, 2)]
    long = [write_run(tmp_path, "qmix", lbf, s, [0, 200, 400], [0.0, 0.5, 0.9], t_max=400) for s in (1, 2, 3)]
    salemb = [write_run(tmp_path, "salemb", lbf, s, [0, 200, 400], [0.0, 0.4, v], t_max=400) for s, v in ((1, 0.5), (2, 0.7))]
    evaluate = write_run(tmp_path, "qmix", lbf, 1, [400], [0.95], t_max=400, evaluate=True, checkpoint_path="/m")
    failed = write_run(tmp_path, "qmix", lbf, 4, [0, 100], [0.0, 0.1], status="FAILED", t_max=400)
    running = write_run(tmp_path, "salemb", lbf, 3, [0, 100], [0.0, 0.1], status="RUNNING", t_max=400)

    loaded = load_groups(tmp_path, "test_return_mean")
    assert {key: [c.run.path for c in curves] for key, curves in loaded.curves.items()} == {
        ("T1", "qmix t_max=200"): short, ("T1", "qmix t_max=400"): long, ("T1", "salemb"): salemb}
    reasons = {lo.path: lo.reason for lo in loaded.left_out}
    assert reasons == {
        evaluate: "evaluate-only run (evaluate=True): no training curve",
        failed: "failed (status FAILED; --unfinished includes it)",
        running: "unfinished (status RUNNING: still running, killed or interrupted; --unfinished includes it)",
    }
    with_unfinished = load_groups(tmp_path, "test_return_mean", include_unfinished=True)
    assert len(with_unfinished.curves[("T1", "qmix t_max=400")]) == 4 and len(with_unfinished.left_out) == 1

    assert compare.main([str(tmp_path), "--baseline", "qmix t_max=400"]) == 0
    out, err = capsys.readouterr()
    assert "| T1 | qmix t_max=200 | 2 | 0.300 ± 0.000 |" in out and "| T1 | qmix t_max=400 | 3 | 0.900 ± 0.000 |" in out
    assert "| T1 | salemb | 2 | 0.600 ± 0.141 |" in out and "| 0.67 |" in out
    assert "| qmix t_max=200 | qmix t_max=400 | 0.00 [0.00, 0.00] |\n| salemb | qmix t_max=400 | 0.00 [0.00, 0.00] |" in out
    assert "qmix on T1 ran as 2 different experiments (they differ in t_max)" in err
    assert "left out 3 run(s):" in err and f"{evaluate}: evaluate-only run" in err and f"{failed}: failed" in err
    assert compare.main([str(tmp_path), "--baseline", "qmix"]) == 2
    assert "--baseline qmix: on T1 it names 2 groups (qmix t_max=200; qmix t_max=400)" in capsys.readouterr().err

    assert plot.main([str(tmp_path), "--out", str(tmp_path / "p.png")]) == 0
    out, err = capsys.readouterr()
    assert "T1                           qmix t_max=400           seeds 3: 1, 2, 3" in out
    assert f"{running}: unfinished" in err
    assert (tmp_path / "p_profile.png").is_file() and (tmp_path / "p_profile.pdf").is_file()


def test_plot_names_the_runs_whose_curves_do_not_overlap(tmp_path, capsys):
    early = write_run(tmp_path, "qmix", {"key": "T"}, 1, [0, 100], [0.0, 1.0], status="INTERRUPTED")
    late = write_run(tmp_path, "qmix", {"key": "T"}, 2, [200, 300], [0.0, 1.0], status="INTERRUPTED")
    assert plot.main([str(tmp_path), "--unfinished", "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert f"qmix on T: the seeds' curves share no steps: {late} (seed 2) starts at step 200, after {early} (seed 1) ends at 100" in err


def test_probability_of_improvement_and_performance_profiles_from_rliable():
    # P(X > Y): of the 2 x 3 pairs, X wins 4, loses 1, ties 1 (half).
    assert probability_of_improvement([np.array([1.0, 3.0])], [np.array([0.0, 1.0, 2.0])])[0] == pytest.approx(4.5 / 6)
    p, low, high = probability_of_improvement([np.array([1.0, 2.0]), np.zeros(3)], [np.zeros(2), np.ones(3)])
    assert (p, low, high) == (0.5, 0.5, 0.5)  # the mean of 1 (task 1) and 0 (task 2), in every resample
    p, low, high = probability_of_improvement([np.array(QMIX_FINALS)], [np.full(3, 0.55)])
    assert p == pytest.approx(0.6) and 0.0 <= low < p < high <= 1.0
    profiles = performance_profile({"a": np.array([0.1, 0.5, 0.9]), "b": np.ones(2)}, np.array([0.0, 0.3, 0.95]))
    fraction, low, high = profiles["a"]
    np.testing.assert_allclose(fraction, [1.0, 2 / 3, 0.0])
    assert np.all(low <= fraction) and np.all(fraction <= high)
    np.testing.assert_allclose(profiles["b"][0], [1.0, 1.0, 1.0])


def test_compare_table_has_the_known_final_auc_iqm_and_ratio(tree, tmp_path, capsys):
    rows = {(r.task, r.algorithm): r for r in compare.build_rows(load_curves(tree, "test_return_mean"), "qmix")}
    q, v = rows[("T1", "qmix")], rows[("T1", "vdn")]
    assert q.seeds == 5 and q.final_mean == pytest.approx(0.78)
    assert q.final_std == pytest.approx(np.sqrt(2.068 / 4))
    assert q.auc_mean == pytest.approx(0.39)  # each seed's AUC is final / 2
    assert q.iqm == pytest.approx(0.6)  # mean of 0.5, 0.6, 0.7
    assert q.max_mean == pytest.approx(0.78)
    assert v.auc_mean == pytest.approx(0.75) and v.iqm == v.iqm_low == v.iqm_high == pytest.approx(1.0)
    assert v.ratio == pytest.approx(1.0 / 0.78) and q.ratio == pytest.approx(1.0)
    m = rows[("3m", "qmix")]
    # 3m: AUCs (60.5 + 120) / 190 = 0.95 (seeds 1, 10) and (40.5 + 180) / 210 = 1.05 (seed 2)
    assert m.final_mean == pytest.approx((2 * 1.9 + 2.1) / 3) and m.auc_mean == pytest.approx((2 * 0.95 + 1.05) / 3)

    out_csv = tmp_path / "tables" / "t.csv"
    assert compare.main([str(tree), "--baseline", "qmix", "--csv", str(out_csv)]) == 0
    text = capsys.readouterr().out
    assert "| T1 | qmix | 5 | 0.780 ± 0.719 | 0.780 | 0.390 | 0.600 [" in text
    assert "| T1 | vdn | 5 | 1.000 ± 0.000 | 1.000 | 0.750 | 1.000 [1.000, 1.000] | 1.28 |" in text
    with open(out_csv) as f:
        table = list(csv.DictReader(f))
    assert [(r["task"], r["algorithm"]) for r in table] == [("3m", "qmix"), ("T1", "qmix"), ("T1", "vdn")]
    assert float(table[2]["ratio_to_qmix"]) == pytest.approx(1.0 / 0.78)


def test_compare_last_n_and_errors(tree, capsys):
    rows = {(r.task, r.algorithm): r for r in compare.build_rows(load_curves(tree, "test_return_mean"), None, last=2)}
    assert rows[("T1", "qmix")].final_mean == pytest.approx(0.78 * 0.75)  # mean of final/2 and final
    assert np.isnan(rows[("T1", "qmix")].ratio)
    assert compare.main([str(tree), "--baseline", "iql"]) == 2
    assert "--baseline iql: no such algorithm in the results; present: qmix, vdn" in capsys.readouterr().err
    assert compare.main([str(tree / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_plot_aggregates_and_writes_png_and_pdf(tree, tmp_path, capsys):
    groups = load_curves(tree, "test_return_mean")
    steps, centre, low, high = plot.aggregate(groups[("T1", "qmix")], "iqm")
    np.testing.assert_allclose(steps, [0, 100, 200])
    np.testing.assert_allclose(centre, [0.0, 0.3, 0.6])
    assert np.all(low <= centre) and np.all(centre <= high) and low[0] == high[0] == 0.0
    _, smoothed, _, _ = plot.aggregate(groups[("T1", "vdn")], "mean", window=2)
    np.testing.assert_allclose(smoothed, [0.0, 0.5, 1.0])

    out = tmp_path / "plots" / "lbf.png"
    assert plot.main([str(tree), "--metric", "test_return_mean", "--out", str(out), "--agg", "iqm", "--smooth", "2"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "plots" / "lbf.pdf").read_bytes()[:5] == b"%PDF-"
    out, err = capsys.readouterr()
    assert "T1                           qmix                     seeds 5: 1, 2, 3, 4, 5" in out
    assert "plots/lbf_profile.png" in out and (tmp_path / "plots" / "lbf_profile.pdf").read_bytes()[:5] == b"%PDF-"
    assert "left out 1 run(s):" in err and "failed (status FAILED" in err
    assert plot.step_label(50000) == "50k" and plot.step_label(1500000) == "1.5M" and plot.step_label(500) == "500"
    assert plot.main([str(tree), "--tasks", "T1", "--algs", "vdn", "--out", str(tmp_path / "one.pdf")]) == 0
    assert (tmp_path / "one.png").is_file() and (tmp_path / "one.pdf").is_file()
    assert plot.main([str(tree), "--out", str(tmp_path / "x.jpg")]) == 2
    assert "--out" in capsys.readouterr().err and not (tmp_path / "x.png").exists()

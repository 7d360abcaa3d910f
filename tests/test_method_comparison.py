"""tools/checks/method_comparison.py: variant specs, the sweeps it starts and the goal's verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tools.checks import method_comparison as mc
from tools.sweep import cli


def test_variant_specs() -> None:
    assert mc.parse_alg("qmix") == ("qmix", "qmix", [])
    assert mc.parse_alg("qmix_control=qmix:updates_per_env_step=0.02,lr=0.0005") == (
        "qmix_control", "qmix", ["name=qmix_control", "updates_per_env_step=0.02", "lr=0.0005"])
    with pytest.raises(SystemExit, match="label=config:key=value"):
        mc.parse_alg("=qmix:lr=1")


def test_overrides_after_algs_are_taken_as_overrides(monkeypatch, tmp_path) -> None:
    calls = []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 0)
    mc.main(["--tasks", "3m", "--seeds", "1", "--out", str(tmp_path / "out"), "--record", str(tmp_path / "r.csv"),
             "--algs", "qmix", "ctrl=qmix:lr=0.1", "env_args.enemy_shoots=False"])
    assert len(calls) == 2 and all(c[-1] == "env_args.enemy_shoots=False" for c in calls)
    assert mc.is_variant("ctrl=qmix") and not mc.is_variant("env_args.map_name=3m")


def expected_fingerprint(config: str, env: str, key: str, task: str, seed: int, settings: list[str]) -> str:
    return mc.fingerprint(mc.ConfigCache().expected(mc.expand([config], [env], [f"{key}={task}"], [seed], settings)[0]))


def test_one_sweep_per_algorithm_and_task_skipping_recorded_experiments(monkeypatch, tmp_path) -> None:
    calls = []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or 0)
    settings = mc.common_settings(100_000)
    recorded = {("3m", "qmix", s, expected_fingerprint("qmix", "smax", "env_args.map_name", "3m", s, settings)) for s in (1, 2)}
    # the same label and seed, but another experiment (another lr): not a reason to skip
    recorded.add(("Foraging-8x8-2p-3f-v3", "qmix", 1, expected_fingerprint("qmix", "lbf", "env_args.key",
                                                                        "Foraging-8x8-2p-3f-v3", 1, [*settings, "lr=0.1"])))
    assert mc.run_grid(["qmix", "ctrl=qmix:lr=0.1"], ["3m", "Foraging-8x8-2p-3f-v3"], 2, 2, tmp_path, 100_000, [], recorded) == 0
    summary = [(a[a.index("--configs") + 1], a[a.index("--env-config") + 1], a[a.index("--set") + 1],
                a[a.index("--seed-list") + 1 : a.index("--jobs")]) for a in calls]
    assert summary == [
        ("qmix", "lbf", "env_args.key=Foraging-8x8-2p-3f-v3", ["1", "2"]),  # 3m: both seeds recorded already
        ("qmix", "smax", "env_args.map_name=3m", ["1", "2"]),
        ("qmix", "lbf", "env_args.key=Foraging-8x8-2p-3f-v3", ["1", "2"]),
    ]
    assert "t_max=100000" in calls[0] and "test_interval=2500" in calls[0]
    assert "name=ctrl" in calls[1] and "lr=0.1" in calls[1] and "name=ctrl" not in calls[0]


def test_record_round_trip_and_scores_keep_experiments_apart(tmp_path) -> None:
    path = tmp_path / "runs.csv"
    row = {"task": "3m", "alg": "qmix", "t_max": "100000", "final": "1.0", "minutes": "3.0"}
    rows = [{**row, "seed": str(s), "experiment": "aaa", "auc": str(0.1 * s)} for s in (2, 1)]
    rows.append({**row, "seed": "1", "t_max": "50000", "experiment": "bbb", "auc": "9"})
    mc.write_record(path, rows)
    back = mc.read_record(path)
    assert [r["seed"] for r in back] == ["1", "1", "2"] and back[0]["t_max"] == "50000"
    table = mc.scores(back, ["3m"], 100_000)
    assert list(table) == [("3m", "qmix")] and sorted(table[("3m", "qmix")]["auc"].tolist()) == [0.1, 0.2]
    assert mc.record_runs(tmp_path / "missing", ["3m"], 100_000, path) == back  # no runs folder: the record alone
    other = [*back, {**row, "seed": "1", "experiment": "ccc", "auc": "0.7"}]  # qmix with another config
    assert set(mc.scores(other, ["3m"], 100_000)) == {("3m", "qmix #aaa"), ("3m", "qmix #ccc")}
    ablation = [*back, {**row, "alg": "salemb_no_gate", "seed": "1", "experiment": "ddd", "auc": "0.9"}]
    assert set(mc.scores(ablation, ["3m"], 100_000, ["qmix", "salemb"])) == {("3m", "qmix")}  # only the labels asked for


def test_verdict_counts_ratio_above_others_and_intervals_apart(capsys) -> None:
    seeds = np.ones(5)
    table = {}
    for task, (method, base, other) in {"a": (2.0, 1.0, 1.5), "b": (1.2, 1.0, 0.5), "c": (3.0, 1.0, 3.5)}.items():
        spread = np.linspace(-0.05, 0.05, 5)
        for label, value in (("salemb", method), ("qmix", base), ("vdn", other)):
            table[(task, label)] = {"auc": value * seeds + spread, "final": value * seeds}
    mc.print_report(table, ["a", "b", "c"])
    out = capsys.readouterr().out
    assert "| a | 2.00 | yes | yes |" in out
    assert "| b | 1.20 | yes | yes |" in out   # above the others, but short of 1.25x
    assert "| c | 3.00 | no | yes |" in out    # 3x QMIX, below VDN
    assert "(now 1), intervals apart on >= 2 (now 3): not met" in out


def test_same_experiment_accepts_only_new_keys_at_their_defaults() -> None:
    old = {"lr": 0.1, "mixer": "qmix"}
    defaults = {"lr": 0.05, "mixer": "qmix", "new_switch": False}
    assert mc.same_experiment(old, {"lr": 0.1, "mixer": "qmix", "new_switch": False}, defaults)
    assert not mc.same_experiment(old, {"lr": 0.1, "mixer": "qmix", "new_switch": True}, defaults)  # new key, not default
    assert not mc.same_experiment(old, {"lr": 0.2, "mixer": "qmix"}, defaults)  # a shared key changed
    assert not mc.same_experiment({**old, "gone": 1}, old, defaults)  # a key the code no longer has
    assert not mc.same_experiment(old, {**old, "unknown": 1}, defaults)  # not a default key at all
    # a key of a component the run does not select (recorded when every run carried every key)
    assert mc.same_experiment({**old, "qplex_heads": 10}, old, defaults, frozenset({"qplex_heads"}))


def test_env_defaults_hold_the_selected_components_declared_keys() -> None:
    assert mc.env_defaults("lbf", {"learner": "q_learner", "mixer": "qplex"})["qplex_heads"] == 10
    assert "qplex_heads" not in mc.env_defaults("lbf", {"learner": "q_learner", "mixer": "qmix"})


def test_rekey_moves_compatible_rows_to_the_current_fingerprint(tmp_path) -> None:
    expected = mc.ConfigCache().expected(mc.expand(["qmix"], ["smax"], ["env_args.map_name=3m"], [1], mc.common_settings(100_000))[0])
    flat = mc.flat_experiment_config(expected)
    current = mc.fingerprint(expected)
    defaults = mc.env_defaults("smax", expected)
    assert "standardise_rewards" in flat and flat["standardise_rewards"] == defaults["standardise_rewards"]
    older = {k: v for k, v in flat.items() if k != "standardise_rewards"}  # recorded before the key existed
    other = {**flat, "lr": 123.0}
    configs = {"old": older, "other": other}
    row = {"task": "3m", "alg": "qmix", "t_max": "100000", "auc": "0.5", "final": "1.0", "minutes": "3.0"}
    rows = [{**row, "seed": "1", "experiment": "old"}, {**row, "seed": "2", "experiment": "other"},
            {**row, "seed": "3", "experiment": "old"}, {**row, "seed": "3", "experiment": current}]
    mc.rekey(rows, configs, "3m", "qmix", expected, defaults)
    assert [r["experiment"] for r in rows] == [current, "other", "old", current]
    assert configs[current] == json.loads(json.dumps(flat, default=str))


def test_each_sweep_is_recorded_before_the_next(monkeypatch, tmp_path) -> None:
    events = []
    monkeypatch.setattr(cli, "main", lambda argv: events.append("sweep") or 0)
    mc.run_grid(["qmix", "vdn"], ["3m"], 1, 1, tmp_path, 100_000, [], set(), after_sweep=lambda: events.append("record"))
    assert events == ["sweep", "record", "sweep", "record"]


def test_an_interrupted_sweep_stops_the_grid(monkeypatch, tmp_path) -> None:
    calls, recorded = [], []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(argv) or cli.INTERRUPTED)
    code = mc.run_grid(["qmix", "vdn"], ["3m", "8m"], 1, 1, tmp_path, 100_000, [], set(), after_sweep=lambda: recorded.append(1))
    assert code == 130 and len(calls) == 1 and recorded == [1]  # what finished is still recorded


def test_adopt_relabels_runs_whose_config_is_the_specs_but_for_the_name() -> None:
    cache = mc.ConfigCache()
    task = "Foraging-8x8-2p-3f-v3"
    _, _, _, expected = mc.grid_point("salemb", task, 100_000, [], cache)
    same = {**mc.stored_config(expected), "name": "r32"}
    other = {**same, "wm_lr": 0.5}
    configs = {"aaa": same, "bbb": other}
    row = {"task": task, "alg": "r32", "t_max": "100000", "auc": "0.5", "final": "0.5", "minutes": "1"}
    rows = [{**row, "seed": "1", "experiment": "aaa"}, {**row, "seed": "2", "experiment": "bbb"},
            {**row, "seed": "3", "experiment": "aaa", "task": "3m"}]
    assert mc.adopt(rows, configs, task, "r32", "salemb", 100_000, [], cache) == 1
    assert rows[0]["alg"] == "salemb" and rows[0]["experiment"] == mc.fingerprint(expected)
    assert configs[rows[0]["experiment"]]["name"] == "salemb"
    assert [r["alg"] for r in rows[1:]] == ["r32", "r32"]  # another config, another task: left alone

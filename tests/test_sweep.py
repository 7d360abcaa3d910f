"""The sweep (tools/sweep): grid expansion, the skip / resume / re-run decisions, the local and Ray backends (with a fake
training command, tests/fake_main.py, that writes sacred folders at once), the progress display."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from tools.sweep import cli
from tools.sweep.grid import ConfigCache, ConfigError, expand
from tools.sweep.progress import Progress, format_duration
from tools.sweep.state import config_differences, plan

FAKE_MAIN = (sys.executable, os.path.join(os.path.dirname(__file__), "fake_main.py"))


def calls(out: Path) -> list[tuple[float, float, str, str, int]]:
    path = out / "calls.txt"
    if not path.is_file():
        return []
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(float(a), float(b), kind, alg, int(seed)) for a, b, kind, alg, seed in rows]


def test_grid_is_the_cartesian_product_with_seeds_outermost():
    specs = expand(["qmix", "vdn"], ["lbf"], ["env_args.key=A,B", "lr=0.1,0.2"], [1, 2], ["t_max=100"])
    assert len(specs) == 16
    assert [s.label for s in specs[:3]] == [
        "qmix lbf env_args.key=A lr=0.1 seed=1", "vdn lbf env_args.key=A lr=0.1 seed=1", "qmix lbf env_args.key=A lr=0.2 seed=1"]
    assert {s.seed for s in specs[:8]} == {1} and {s.seed for s in specs[8:]} == {2}
    assert len({s.label for s in specs}) == len({s.log_name for s in specs}) == 16
    assert specs[0].log_name == "qmix__lbf__env_args.key=A__lr=0.1__seed=1.log"
    assert specs[0].argv(Path("/r")) == ["--config=qmix", "--env-config=lbf", "with", "env_args.key=A", "lr=0.1",
                                         "t_max=100", "seed=1", "local_results_path=/r"]
    assert len(expand(["qmix"], ["lbf", "sc2"], [], [1, 2, 3], [])) == 6


@pytest.mark.parametrize("sets, seeds, common, message", [
    (["lr"], [1], [], "--set 'lr' is not of the form key=value1,value2"),
    (["lr=0.1,,0.2"], [1], [], "has an empty value"),
    (["seed=1,2"], [1], [], "the sweep sets seed itself; use --seeds N or --seed-list"),
    (["lr=0.1", "lr=0.2"], [1], [], "--set repeats a key"),
    (["lr=0.1,0.2"], [1], ["lr=0.3"], "'lr' is both swept (--set) and fixed ('lr=0.3')"),
    ([], [1, 1], [], "seeds [1, 1] repeat a seed"),
    ([], [1], ["local_results_path=/x"], "use --out"),
    ([], [1], ["t_max"], "override 't_max' is not of the form key=value"),
])
def test_grid_errors_name_the_mistake(sets, seeds, common, message):
    with pytest.raises(ConfigError) as info:
        expand(["qmix"], ["lbf"], sets, seeds, common)
    assert message in str(info.value)


def test_cli_moves_overrides_out_of_greedy_lists_and_validates_configs(tmp_path, capsys):
    args = cli.parse_args(["--configs", "qmix", "vdn", "t_max=5", "--env-config", "lbf", "--seed-list", "3", "9", "lr=0.1"])
    assert args.configs == ["qmix", "vdn"] and args.seed_list == ["3", "9"] and args.overrides == ["lr=0.1", "t_max=5"]
    assert cli.seed_list(args) == [3, 9]
    assert cli.main(["--configs", "qmix", "--env-config", "lbf", "--out", str(tmp_path), "--set", "lrr=0.1,0.2"]) == 2
    err = capsys.readouterr().err
    assert "grid point 'qmix lbf lrr=0.1 seed=1': unknown config key 'lrr'. Did you mean 'lr'?" in err
    assert cli.main(["--configs", "qmixx", "--env-config", "lbf", "--out", str(tmp_path)]) == 2
    assert "--config=qmixx: no such config" in capsys.readouterr().err
    assert cli.main(["--configs", "qmix", "--env-config", "lbf", "--out", str(tmp_path), "--jobs", "0"]) == 2
    assert "--jobs 0: at least one run" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()


def test_sweep_runs_then_skips_completed_resumes_interrupted_and_reruns_failed(tmp_path, monkeypatch, capsys):
    out = tmp_path / "res"
    argv = ["--configs", "qmix", "vdn", "--env-config", "lbf", "--seeds", "2", "--jobs", "2", "--out", str(out), "t_max=100"]
    monkeypatch.setenv("FAKE_MAIN_BEHAVIOUR", json.dumps({"qmix:2": "fail", "vdn:1": "kill", "vdn:2": "kill-early"}))
    monkeypatch.setenv("FAKE_MAIN_SLEEP", "0.2")
    assert cli.main(argv, main_command=FAKE_MAIN) == 1
    err = capsys.readouterr().err
    first = calls(out)
    assert sorted((kind, alg, seed) for _, _, kind, alg, seed in first) == [
        ("fresh", "qmix", 1), ("fresh", "qmix", 2), ("fresh", "vdn", 1), ("fresh", "vdn", 2)]
    # never more than --jobs runs at once
    for start, _, *_ in first:
        assert sum(s <= start < e for s, e, *_ in first) <= 2
    assert "sweep: 4 grid points: 0 done before, 1 done now, 3 failed" in err
    log = out / "logs" / "qmix__lbf__seed=2.log"
    assert f"qmix lbf seed=2: exit 1, log {log}" in err and "RuntimeError: the fake run failed" in err
    assert "fake training qmix seed 2: fail" in log.read_text()
    assert "vdn lbf seed=1: exit 137" in err

    monkeypatch.delenv("FAKE_MAIN_BEHAVIOUR")
    assert cli.main(argv + ["--dry-run"], main_command=FAKE_MAIN) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("qmix lbf seed=1: done (")
    assert lines[1].startswith("vdn lbf seed=1: resume: RUNNING with a checkpoint (")
    assert lines[2].startswith("qmix lbf seed=2: rerun: FAILED before (")
    assert lines[3].startswith("vdn lbf seed=2: rerun: RUNNING before (")
    assert lines[4] == "4 grid points: 0 new, 2 to re-run, 1 to resume, 1 done before"
    assert len(calls(out)) == 4

    assert cli.main(argv, main_command=FAKE_MAIN) == 0
    second = sorted((kind, alg, seed) for _, _, kind, alg, seed in calls(out)[4:])
    assert second == [("fresh", "qmix", 2), ("fresh", "vdn", 2), ("resume", "vdn", 1)]
    assert "1 done before, 3 done now, 0 failed" in capsys.readouterr().err
    assert log.read_text().count("=== exit code") == 2  # both attempts kept in the point's log

    assert cli.main(argv, main_command=FAKE_MAIN) == 0
    assert len(calls(out)) == 7
    assert "4 done before, 0 done now" in capsys.readouterr().err

    # another budget is another grid point; the dry run says how the existing runs differ
    assert cli.main(argv[:-1] + ["t_max=200", "--dry-run"], main_command=FAKE_MAIN) == 0
    assert "qmix lbf seed=1: new; a run with this alg, task and seed differs in t_max: grid 200, run 100" in capsys.readouterr().out


def test_matching_uses_the_full_config(tmp_path):
    cache = ConfigCache()
    spec = expand(["qmix"], ["lbf"], [], [4], [])[0]
    expected = cache.expected(spec)
    assert expected["seed"] == expected["env_args"]["seed"] == 4 and expected["name"] == "qmix"
    changed = json.loads(json.dumps(expected))
    changed["env_args"]["key"] = "other"
    changed["lr"] = 0.5
    changed["new_key_from_newer_code"] = 1
    assert sorted(config_differences(expected, changed)) == [
        f"env_args.key: grid {expected['env_args']['key']!r}, run 'other'", f"lr: grid {expected['lr']!r}, run 0.5"]
    del changed["gamma"]
    assert f"gamma: grid {expected['gamma']!r}, run has no such key" in config_differences(expected, changed)
    assert [p.action for p in plan([spec], tmp_path / "empty", cache)] == ["new"]


def test_a_second_sweep_on_the_same_folder_is_refused(tmp_path, capsys):
    held = cli.lock_output(tmp_path)
    try:
        assert cli.main(["--configs", "qmix", "--env-config", "lbf", "--out", str(tmp_path)], main_command=FAKE_MAIN) == 2
        assert f"another sweep is writing to {tmp_path}" in capsys.readouterr().err
    finally:
        held.close()


def test_progress_counts_and_eta():
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(total=5, jobs=2, skipped=3, stream=stream, clock=lambda: now[0], live=False)
    assert progress.eta() is None
    progress.started("a")
    progress.started("b")
    now[0] = 10.0
    progress.finished("a", 0, "a.log")
    progress.started("c")
    now[0] = 20.0
    progress.finished("b", 2, "b.log")
    # runs take 15 s on average; c has run 10 s: 5 s left on one slot, plus 2 queued runs x 15 s over 2 slots
    assert progress.eta() == pytest.approx((5 + 2 * 15) / 2)
    assert progress.status_line() == ("[sweep] 2/5 finished: 1 done, 1 failed, 1 running, 2 queued (3 done before, skipped) "
                                      "| 20s elapsed, ETA 18s")
    text = stream.getvalue()
    assert "done   a (10s)" in text and "FAILED b (exit 2 after 20s; log b.log)" in text
    assert [format_duration(s) for s in (59, 61, 3725)] == ["59s", "1m01s", "1h02m"]


def test_the_ray_backend_without_ray_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(SystemExit, match=r"needs Ray, an optional extra.*\n    pip install -r requirements-ray.txt"):
        cli.main(["--configs", "qmix", "--env-config", "lbf", "--out", str(tmp_path), "--backend", "ray"], main_command=FAKE_MAIN)
    assert not (tmp_path / ".sweep.lock").exists()


def test_address_needs_the_ray_backend(tmp_path, capsys):
    assert cli.main(["--configs", "qmix", "--env-config", "lbf", "--out", str(tmp_path), "--address", "auto"]) == 2
    assert "--address auto is a Ray cluster's address; add --backend ray" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_backend_runs_the_same_sweep_on_a_local_ray_instance(tmp_path, monkeypatch, capsys):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("FAKE_MAIN_BEHAVIOUR", json.dumps({"vdn:2": "fail"}))
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "res"
        argv = ["--configs", "qmix", "vdn", "--env-config", "lbf", "--seeds", "2", "--out", str(out), "--backend", "ray", "t_max=100"]
        assert cli.main(argv, main_command=FAKE_MAIN) == 1
        err = capsys.readouterr().err
        assert "sweep: 4 grid points: 0 done before, 3 done now, 1 failed" in err and "vdn lbf seed=2: exit 1" in err
        assert cli.main(argv, main_command=FAKE_MAIN) == 1
        assert "sweep: 4 grid points: 3 done before, 0 done now, 1 failed" in capsys.readouterr().err
    finally:
        ray.shutdown()
    assert sorted((alg, seed) for *_, alg, seed in calls(out)) == [("qmix", 1), ("qmix", 2), ("vdn", 1), ("vdn", 2), ("vdn", 2)]
    assert "fake training qmix seed 1: ok" in (out / "logs" / "qmix__lbf__seed=1.log").read_text()

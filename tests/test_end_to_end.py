"""Every algorithm on every runnable env, end to end through main, with a tiny t_max."""

import json
from pathlib import Path

import pytest

ALGS = ["qmix", "vdn", "iql"]


def sacred_run_dir(root: Path) -> Path:
    runs = [p for p in (root / "sacred").glob("*/*/*") if p.name.isdigit()]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.parametrize("alg", ALGS)
def test_alg_on_lbf_writes_sacred_files_and_metrics(run_main, tmp_path, alg):
    config, stats = run_main(alg, "lbf")
    run_dir = sacred_run_dir(tmp_path)
    assert run_dir.parent.name == alg and run_dir.parent.parent.name == "Foraging-8x8-2p-3f-v3"
    for name in ("config.json", "run.json", "metrics.json", "info.json", "cout.txt"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("return_mean", "test_return_mean", "loss_td", "epsilon", "ep_length_mean", "test_ep_length_mean"):
        assert key in metrics and len(metrics[key]["values"]) >= 1, key
    info = json.loads((run_dir / "info.json").read_text())
    assert len(info["test_return_mean"]) == len(info["test_return_mean_T"])
    assert json.loads((run_dir / "run.json").read_text())["status"] == "COMPLETED"
    assert json.loads((run_dir / "config.json").read_text())["mixer"] == config["mixer"]
    assert stats["episode"] > 0


@pytest.mark.parametrize("alg", ALGS)
def test_alg_on_toy_env_with_parallel_runner(run_main, toy_env_registered, alg):
    _, stats = run_main(alg, "lbf", "env=toy", "runner=parallel", "batch_size_run=2", "use_per=True")
    assert "loss_td" in stats and stats["test_return_mean"] >= 0


def test_tensorboard_logs(run_main, tmp_path):
    run_main("vdn", "lbf", "use_tensorboard=True", "t_max=100")
    assert list((tmp_path / "tb_logs").glob("*/events.out.tfevents.*"))


def test_every_test_point_is_logged_when_test_nepisode_is_not_a_multiple_of_the_envs(run_main, tmp_path):
    run_main("qmix", "lbf", "runner=parallel", "batch_size_run=2", "test_nepisode=3")
    metrics = json.loads((sacred_run_dir(tmp_path) / "metrics.json").read_text())
    # 2 envs play 100 steps per call; the tests at t_env 100 and 300, and the final one at 400 where
    # training ends, each play 2 calls (4 >= 3 episodes). With 3 // 2 = 1 call per test, the first test's
    # 2 episodes were never logged on their own.
    assert metrics["test_return_mean"]["steps"] == [100, 300, 400]

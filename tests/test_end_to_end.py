"""Every algorithm on every runnable env, end to end through main, with a tiny t_max."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

from envs import CONTINUOUS_ACTIONS as CONTINUOUS_ENVS
from learners import CONTINUOUS_ACTIONS as CONTINUOUS_LEARNERS
from utils.config_loader import available, load_alg

ALGS = ["qmix", "vdn", "iql"]
# Each runnable env: the package it needs (None: always installed) and the settings that keep a run tiny.
RUNNABLE_ENVS = {
    "lbf": (None, []),
    "smax": ("jaxmarl", ["env_args.map_name=3m"]),
    "mamujoco": ("gymnasium_robotics", [
        "env_args.max_episode_steps=30", "start_steps=40", "t_max=90", "test_interval=60", "log_interval=60",
        "runner_log_interval=60", "learner_log_interval=60", "test_nepisode=1", "batch_size=16",
    ]),
}


def action_kinds(alg: str) -> set[str]:
    """The action kinds an alg config runs on: an actor-critic learner acts continuously; a Q-learner
    discretely, and also continuously if its YAML has a `continuous:` form."""
    config = load_alg(alg)
    if config.get("learner") in CONTINUOUS_LEARNERS:
        return {"continuous"}
    return {"discrete", "continuous"} if "continuous" in config else {"discrete"}


def matrix() -> list[tuple[str, str]]:
    kind = {env: "continuous" if env in CONTINUOUS_ENVS else "discrete" for env in RUNNABLE_ENVS}
    return [(alg, env) for alg in available("algs") for env in RUNNABLE_ENVS if kind[env] in action_kinds(alg)]


def test_the_matrix_holds_every_alg_config_and_every_runnable_env():
    pairs = matrix()
    assert {alg for alg, _ in pairs} == set(available("algs"))
    assert {env for _, env in pairs} == set(RUNNABLE_ENVS)
    assert ("facmac", "lbf") not in pairs and ("salemb", "mamujoco") in pairs and ("qmix", "mamujoco") not in pairs


@pytest.mark.slow
@pytest.mark.parametrize("alg, env", matrix())
def test_every_alg_trains_on_every_runnable_env(run_main, alg, env):
    package, settings = RUNNABLE_ENVS[env]
    if package and importlib.util.find_spec(package) is None:
        pytest.skip(f"{env} needs {package}")
    config, stats = run_main(alg, env, *settings)
    assert config["name"] == alg and stats["episode"] > 0
    assert math.isfinite(stats["loss_td"]) and math.isfinite(stats["test_return_mean"])


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


def test_test_at_end_false_tests_only_on_the_interval(run_main, tmp_path):
    run_main("qmix", "lbf", "runner=parallel", "batch_size_run=2", "test_at_end=False")
    metrics = json.loads((sacred_run_dir(tmp_path) / "metrics.json").read_text())
    assert metrics["test_return_mean"]["steps"] == [100, 300]

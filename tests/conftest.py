"""Shared fixtures: a registered toy env and a helper that runs a whole experiment in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import envs
from args_helper import applicable
from toy_env import ToyEnv

ROOT = Path(__file__).resolve().parents[1]

FAST = [
    "t_max=300", "test_interval=150", "log_interval=150", "runner_log_interval=150",
    "learner_log_interval=150", "test_nepisode=2", "batch_size=4", "buffer_size=16", "use_cuda=False",
]


@pytest.fixture(autouse=True, scope="session")
def subprocesses_import_this_checkout() -> Iterator[None]:
    """The processes the tests start (a sweep's runs, tests/fake_main.py, the chaos check, one-liners)
    import src/'s modules and the tools from this checkout, as the tests themselves do (pyproject.toml's
    pytest `pythonpath`), not from the checkout the environment's editable install points at (another
    git worktree may share the virtual environment)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")])))
        yield


@pytest.fixture
def toy_env_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(envs.REGISTRY, "toy", ToyEnv)  # a class: picklable for spawned workers


@pytest.fixture
def run_main(tmp_path: Any):
    """Run `main` in-process: run_main("qmix", "lbf", "t_max=...") -> (config, stats). Overrides of keys
    the run does not have (another alg's part's) are left out (`args_helper.applicable`)."""
    import main

    def _run(alg: str, env: str, *overrides: str) -> tuple[dict[str, Any], dict[str, Any]]:
        tokens = applicable(alg, env, [*FAST, f"local_results_path={tmp_path}", "seed=1", *overrides])
        argv = [f"--config={alg}", f"--env-config={env}", "with", *tokens]
        config = main.prepare_config(argv)
        return config, main.run_experiment(config)

    return _run

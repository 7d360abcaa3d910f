"""Failed envs: reported with env index and traceback; with restart_failed_envs the env is restarted and
the batch collected again, up to max_env_restarts."""

from __future__ import annotations

import os
import signal
from typing import Any

import numpy as np
import pytest

import envs
from runners.env_group import EnvWorkerError
from test_runners import make_runner
from toy_env import ToyEnv


class FailingToy(ToyEnv):
    """A toy env whose worker fails at episode step `at`: `how` is exit (os._exit), segv (killed by
    SIGSEGV) or raise. With `once_file` only the first env to get there fails (it creates the file), so a
    restarted env then works; without it every env fails in every episode."""

    def __init__(self, how: str = "exit", at: int = 2, once_file: str | None = None, **kw: Any):
        super().__init__(**kw)
        self.how, self.at, self.once_file = how, at, once_file

    def step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        if self.t + 1 == self.at and self._should_fail():
            if self.how == "exit":
                os._exit(7)
            if self.how == "segv":
                os.kill(os.getpid(), signal.SIGSEGV)
            raise ValueError("toy env lost its game")
        return super().step(actions)

    def get_state(self) -> np.ndarray:
        """The toy's state without its seed: a restarted env's seed is derived (up to 2**31), too large an
        input for the mixer of the runs that train on this env."""
        state = super().get_state()
        state[2] = 0.0
        return state

    def _should_fail(self) -> bool:
        if self.once_file is None:
            return True
        try:  # atomic: when two workers reach the failing step together, exactly one creates the file
            os.close(os.open(self.once_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True


@pytest.fixture
def failing_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(envs.REGISTRY, "failing", FailingToy)


def collect(kind: str, **kw: Any):
    runner = make_runner(kind, env="failing", **kw)
    try:
        return runner, runner.run()
    finally:
        runner.close_env()


@pytest.mark.parametrize("kind", ["parallel", "episode"])
@pytest.mark.parametrize("how", ["exit", "segv", "raise"])
def test_failed_env_is_restarted_and_the_batch_collected_again(failing_env, tmp_path, caplog, kind, how):
    if kind == "episode" and how != "raise":
        pytest.skip("an in-process env that exits takes the run with it")
    once = str(tmp_path / "failed")
    runner, batch = collect(kind, env_args={"seed": 5, "limit": 5, "how": how, "once_file": once},
                            restart_failed_envs=True, max_env_restarts=3)
    assert os.path.exists(once)
    assert runner.restarts.count == 1
    assert runner.t_env == 10  # only the batch collected after the restart counts
    assert batch["filled"][:, :, 0].sum().item() == 12  # two whole episodes: 5 steps + final observation each
    assert runner.logger.latest("env_restarts") == 1.0


def test_the_run_loop_is_told_before_failed_envs_are_restarted(failing_env, tmp_path):
    runner = make_runner("parallel", env="failing", restart_failed_envs=True, max_env_restarts=3,
                         env_args={"seed": 5, "limit": 5, "how": "exit", "once_file": str(tmp_path / "failed")})
    calls = []
    runner.before_env_restart = lambda: calls.append(runner.restarts.count)
    try:
        runner.run()
    finally:
        runner.close_env()
    assert calls == [0] and runner.restarts.count == 1  # once, before the restart


def test_a_failure_in_a_grouped_worker_restarts_every_env_of_that_worker(failing_env, tmp_path):
    once = str(tmp_path / "failed")
    runner, batch = collect("parallel", batch_size_run=2, envs_per_worker=2, restart_failed_envs=True, max_env_restarts=3,
                            env_args={"seed": 5, "limit": 5, "how": "exit", "once_file": once})
    assert runner.restarts.count == 2  # env 0 took its worker down, and env 1 with it
    assert len(runner.envs.procs) == 1
    assert runner.t_env == 10 and batch["filled"][:, :, 0].sum().item() == 12


def test_restarts_stop_at_the_limit(failing_env):
    with pytest.raises(EnvWorkerError) as info:
        collect("parallel", env_args={"seed": 5, "limit": 5, "how": "exit"}, restart_failed_envs=True, max_env_restarts=2)
    text = str(info.value)
    assert "env worker 0 died during 'step' without a reply (exit code 7)" in text
    assert "env restarts used up: 2 of max_env_restarts=2" in text
    assert info.value.indices == [0, 1]  # both envs died in the same step; the first is reported


def test_segfault_is_reported_with_signal_and_python_stack(failing_env):
    with pytest.raises(EnvWorkerError) as info:
        collect("parallel", env_args={"seed": 5, "limit": 5, "how": "segv"})
    text = str(info.value)
    assert "env worker 0 died during 'step' without a reply (exit code -11, killed by signal 11 (SIGSEGV))" in text
    assert "worker traceback (faulthandler)" in text and "in step" in text and "test_env_restarts.py" in text
    assert "restart_failed_envs=False" in text


def test_os_exit_says_there_is_no_traceback(failing_env):
    with pytest.raises(EnvWorkerError, match=r"exit code 7\); no Python traceback"):
        collect("parallel", env_args={"seed": 5, "limit": 5, "how": "exit"})


def test_in_process_env_exception_names_the_env_and_keeps_the_traceback(failing_env):
    with pytest.raises(EnvWorkerError) as info:
        collect("episode", env_args={"seed": 5, "limit": 5, "how": "raise"})
    assert info.value.index == 0
    assert "env 0 failed in step: ValueError: toy env lost its game" in str(info.value)
    assert "env traceback" in str(info.value) and "test_env_restarts.py" in str(info.value)


@pytest.mark.parametrize("per_worker, restarts", [(1, 1.0), (2, 2.0)])
def test_training_survives_a_worker_that_dies(run_main, failing_env, tmp_path, per_worker, restarts):
    """One env's worker dies once: every env of that worker is restarted (one env, or both with 2 per worker)."""
    once = tmp_path / "died"
    _, stats = run_main("qmix", "lbf", "env=failing", "env_args.limit=5", "env_args.how=exit",
                        f"env_args.once_file={once}", "runner=parallel", "batch_size_run=2",
                        f"envs_per_worker={per_worker}", "restart_failed_envs=True")
    assert once.exists()
    assert stats["env_restarts"] == restarts and stats["episode"] > 0

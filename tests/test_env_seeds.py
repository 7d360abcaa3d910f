"""Seeds of env workers and restarted envs: each worker process seeds Python's and numpy's process-wide
generators (envs such as SMACv2 draw from them), and a restarted env gets a fresh seed derived from the
run's, which the restart warning names."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

import envs
from runners.env_group import LocalEnvs, SubprocEnvs, env_seed
from runners.episode_runner import make_env
from test_env_restarts import FailingToy, collect
from toy_env import ToyEnv


class ProcessRandomToy(ToyEnv):
    """A toy env whose state carries one draw from each process-wide generator, made at every reset."""

    def reset(self) -> None:
        super().reset()
        self.draws = [random.random(), float(np.random.rand())]

    def get_state(self) -> np.ndarray:
        return np.concatenate([super().get_state(), self.draws])


def draws(envs_: Any) -> list[tuple[float, float]]:
    return [tuple(d["state"][-2:]) for d in envs_.reset()]


def test_env_seed_is_seed_plus_index_then_fresh_per_restart() -> None:
    assert [env_seed(5, i, 0) for i in range(3)] == [5, 6, 7] and env_seed(None, 2, 3) is None
    restarted = {env_seed(5, i, n) for i in range(3) for n in (1, 2)}
    assert len(restarted) == 6 and not restarted & {5, 6, 7}
    assert env_seed(5, 1, 2) == env_seed(5, 1, 2) and all(0 <= s < 2**31 for s in restarted)


def test_make_env_gives_the_restarted_env_its_derived_seed() -> None:
    assert make_env(ToyEnv, {"seed": 5}, 1, 0).seed_value == 6
    assert make_env(ToyEnv, {"seed": 5}, 1, 2).seed_value == env_seed(5, 1, 2)
    assert make_env(ToyEnv, {"seed": None}, 1, 2).seed_value is None


def process_random_toy_at(i: int, restarts: int) -> ProcessRandomToy:
    """A module-level factory: picklable for workers started with spawn (after JAX is loaded)."""
    return ProcessRandomToy(seed=i)


def test_workers_seed_the_process_wide_generators() -> None:
    random.seed(0)  # the parent's state, which forked workers used to inherit as it was
    np.random.seed(0)
    group = SubprocEnvs(process_random_toy_at, 3, envs_per_worker=1, seed=11)
    try:
        first = draws(group)
        assert len(set(first)) == 3  # each worker draws its own numbers
        group.restart(1)
        again = draws(group)
        assert again[1] != first[1]  # the restarted worker was seeded afresh
    finally:
        group.close()
    same = SubprocEnvs(process_random_toy_at, 3, envs_per_worker=1, seed=11)
    try:
        assert draws(same) == first  # and the same seed gives the same numbers
    finally:
        same.close()
    expected = random.Random(env_seed(11, 2, 0)).random()
    assert first[2][0] == expected


def test_local_envs_build_a_restarted_env_with_its_restart_count() -> None:
    built: list[tuple[int, int]] = []

    def fn(i: int, restarts: int) -> ToyEnv:
        built.append((i, restarts))
        return ToyEnv(seed=env_seed(3, i, restarts))

    group = LocalEnvs(fn, 2)
    group.restart(1)
    group.restart(1)
    assert built == [(0, 0), (1, 0), (1, 1), (1, 2)] and group.restarts == [0, 2]
    assert group.envs[1].seed_value == env_seed(3, 1, 2)


@pytest.mark.parametrize("kind", ["episode", "parallel"])
def test_restart_warning_names_the_fresh_seed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any, kind: str
) -> None:
    seeds: list[int | None] = []

    def failing(**kw: Any) -> FailingToy:
        seeds.append(kw["seed"])
        return FailingToy(**kw)

    # the parallel runner's workers build from the class (picklable under spawn); only the episode runner,
    # which builds in this process, can record the seeds
    monkeypatch.setitem(envs.REGISTRY, "failing", failing if kind == "episode" else FailingToy)
    once = str(tmp_path / "failed")
    runner, _ = collect(kind, env_args={"seed": 5, "limit": 5, "how": "raise", "once_file": once},
                        restart_failed_envs=True, max_env_restarts=3)  # fmt: skip
    assert runner.restarts.count == 1
    failed = runner.envs.restarts.index(1)
    assert f"restarted with fresh seeds (env {failed}: {env_seed(5, failed, 1)})" in capsys.readouterr().err
    if kind == "episode":  # built in this process: the restarted env was built with that seed
        assert seeds == [5, 6, env_seed(5, failed, 1)]

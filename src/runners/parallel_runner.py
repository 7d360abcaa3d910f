"""The `parallel` runner: the episode loop of `EpisodeRunner`, with the envs in worker processes
(`envs_per_worker` each; 1: every env in its own process)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runners.env_group import SubprocEnvs
from runners.episode_runner import EpisodeRunner
from utils.component_config import AT_LEAST_1, config_of, key


class ParallelRunner(EpisodeRunner):
    @dataclass(frozen=True)
    class Config:
        env_worker_timeout: float | None = key(None, "seconds a parallel env worker may take to answer (null: no limit)",
                                               (lambda v: v is None or v > 0, "> 0 or null"))
        envs_per_worker: int = key(1, "envs per worker process (a failure restarts all of its worker's envs)", AT_LEAST_1)

    @property
    def collection_holds_gil(self) -> bool:
        """False: the loop waits on its workers' pipes, without the GIL, at every step."""
        return False

    def _make_envs(self, env_fn: Any) -> Any:
        cfg = config_of(self.Config, self.args)
        timeout, per_worker = cfg.env_worker_timeout, cfg.envs_per_worker
        seed = self.args.env_args.get("seed")
        return SubprocEnvs(env_fn, self.batch_size, timeout=timeout, envs_per_worker=per_worker, seed=seed)

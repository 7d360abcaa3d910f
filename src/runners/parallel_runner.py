"""The `parallel` runner: the episode loop of `EpisodeRunner`, with the envs in worker processes
(`envs_per_worker` each; 1: every env in its own process)."""

from __future__ import annotations

from typing import Any

from runners.env_group import SubprocEnvs
from runners.episode_runner import EpisodeRunner


class ParallelRunner(EpisodeRunner):
    def _make_envs(self, env_fn: Any) -> Any:
        timeout = getattr(self.args, "env_worker_timeout", None)
        per_worker = getattr(self.args, "envs_per_worker", 1)
        seed = self.args.env_args.get("seed")
        return SubprocEnvs(env_fn, self.batch_size, timeout=timeout, envs_per_worker=per_worker, seed=seed)

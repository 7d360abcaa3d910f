"""The `parallel` runner: the episode loop of `EpisodeRunner`, with each env in its own worker process."""

from __future__ import annotations

from typing import Any

from runners.env_group import SubprocEnvs
from runners.episode_runner import EpisodeRunner


class ParallelRunner(EpisodeRunner):
    def _make_envs(self, env_fn: Any) -> Any:
        timeout = getattr(self.args, "env_worker_timeout", None)
        return SubprocEnvs(env_fn, self.batch_size, timeout=timeout)

"""What a runner does when an env fails mid-episode: restart it and collect the batch again, or stop.

With `restart_failed_envs=True` (the sc2/sc2v2 default: the game process crashes now and then) the failed
env is replaced by a fresh one with a fresh seed derived from the run's (`env_seed`; the warning names
it), so it does not replay the episodes it started with; the episodes of the interrupted batch are
discarded (they never reach the buffer, the logs or t_env) and the batch is collected again, up to
`max_env_restarts` times in the run; the next failure is raised. Each restart is a warning on the console
and the `env_restarts` metric counts them.
"""

from __future__ import annotations

from typing import Any

from runners.env_group import EnvWorkerError, env_seed


class EnvRestarts:
    def __init__(self, args: Any, logger: Any):
        self.enabled = bool(args.restart_failed_envs)
        self.limit = int(args.max_env_restarts)
        self.seed = args.env_args.get("seed")
        self.logger = logger
        self.count = 0

    def handle(self, error: EnvWorkerError, envs: Any, t_env: int) -> None:
        """Restart the envs that failed in `error`, or re-raise it when restarts are off or too few are left.
        Each restarted env counts as one restart."""
        if not self.enabled:
            raise EnvWorkerError(
                f"{error}\n(restart_failed_envs=False: set it to True to restart failed envs)", error.index, error.indices
            ) from error
        if self.count + len(error.indices) > self.limit:
            raise EnvWorkerError(
                f"{error}\n(env restarts used up: {self.count} of max_env_restarts={self.limit}, "
                f"{len(error.indices)} more needed; raise max_env_restarts to allow more)",
                error.index,
                error.indices,
            ) from error
        first_line = str(error).splitlines()[0]
        for index in error.indices:
            envs.restart(index)
            self.count += 1
        seeds = ", ".join(f"env {i}: {env_seed(self.seed, i, envs.restarts[i])}" for i in error.indices)
        self.logger.console_logger.warning(
            f"Env {', '.join(map(str, error.indices))} failed at t_env {t_env} ({first_line}); restarted with fresh "
            f"seeds ({seeds}), collecting the batch again ({self.count} of max_env_restarts={self.limit} restarts used)"
        )
        self.logger.log_stat("env_restarts", self.count, t_env)

"""A tiny deterministic env for runner and training tests.

Each agent sees (t / limit, own id, target); reward 1 when every agent plays action `target`
(the target is a function of the seed and the episode), the episode ends after `limit` steps
(a time-out, `episode_limit=True`) or, with `terminate_at`, terminates at that step.
`crash_at` makes `step` raise at that step, and `exit_at` makes the process exit (os._exit).
`nan_reward_at` makes the reward NaN at that step counted over the env's whole life (once per env).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from envs.multiagentenv import MultiAgentEnv


class ToyEnv(MultiAgentEnv):
    def __init__(self, n_agents: int = 2, n_actions: int = 3, limit: int = 5, seed: int | None = 0,
                 terminate_at: int | None = None, crash_at: int | None = None, exit_at: int | None = None,
                 nan_reward_at: int | None = None, **_: Any):
        self.n_agents = n_agents
        self.n_actions = n_actions
        self.episode_limit = limit
        self.seed_value = seed
        self.rng = np.random.default_rng(seed)
        self.terminate_at = terminate_at
        self.crash_at = crash_at
        self.exit_at = exit_at
        self.nan_reward_at = nan_reward_at
        self.total_steps = 0
        self.t = 0
        self.target = 0
        self.episodes = 0

    def reset(self) -> None:
        self.t = 0
        self.target = int(self.rng.integers(self.n_actions))
        self.episodes += 1

    def step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        self.t += 1
        self.total_steps += 1
        if self.crash_at is not None and self.t == self.crash_at:
            raise RuntimeError(f"toy env crashed at step {self.t}")
        if self.exit_at is not None and self.t == self.exit_at:
            os._exit(3)
        reward = float(np.all(np.asarray(actions).reshape(-1) == self.target))
        if self.total_steps == self.nan_reward_at:
            reward = float("nan")
        if self.terminate_at is not None and self.t >= self.terminate_at:
            return reward, True, {"episode_limit": False, "won": True}
        if self.t >= self.episode_limit:
            return reward, True, {"episode_limit": True, "won": False}
        return reward, False, {}

    def get_obs(self) -> list[np.ndarray]:
        return [np.array([self.t / self.episode_limit, i, self.target], dtype=np.float32) for i in range(self.n_agents)]

    def get_obs_size(self) -> int:
        return 3

    def get_state(self) -> np.ndarray:
        return np.array([self.t / self.episode_limit, self.target, self.seed_value or 0], dtype=np.float32)

    def get_state_size(self) -> int:
        return 3

    def get_avail_actions(self) -> list[np.ndarray]:
        avail = np.ones((self.n_agents, self.n_actions), dtype=np.int64)
        avail[:, -1] = 0 if self.n_actions > 2 else 1
        return list(avail)

    def get_total_actions(self) -> int:
        return self.n_actions

    def get_rng_state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "total_steps": self.total_steps}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.total_steps = state["total_steps"]

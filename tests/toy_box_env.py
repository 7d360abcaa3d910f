"""A tiny continuous-action env for tests: agent i has a Box action of size `dims[i]` in [low, high].

Each agent sees (t / limit, own id); the state is (t / limit, 1). The reward is minus the squared
distance of every action from `target` (in the env's bounds), so the best joint action is known; the
episode times out after `limit` steps (`episode_limit=True`) or, with `terminate_at`, terminates there.
`received` keeps the actions of the last step as the env got them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.spaces import Box

from envs.multiagentenv import MultiAgentEnv


class ToyBoxEnv(MultiAgentEnv):
    def __init__(self, dims: tuple[int, ...] = (2, 1), low: float = 0.0, high: float = 2.0, target: float = 1.5,
                 limit: int = 6, terminate_at: int | None = None, seed: int | None = 0, **_: Any):
        self.dims = list(dims)
        self.n_agents = len(self.dims)
        self.spaces = [Box(low, high, (d,), np.float32) for d in self.dims]
        self.target = target
        self.episode_limit = limit
        self.terminate_at = terminate_at
        self.t = 0
        self.received: np.ndarray | None = None

    def reset(self) -> None:
        self.t = 0

    def step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        self.t += 1
        self.received = np.asarray(actions, dtype=np.float64).copy()
        reward = -float(sum(((self.received[i, :d] - self.target) ** 2).sum() for i, d in enumerate(self.dims)))
        if self.terminate_at is not None and self.t >= self.terminate_at:
            return reward, True, {"episode_limit": False}
        if self.t >= self.episode_limit:
            return reward, True, {"episode_limit": True}
        return reward, False, {}

    def get_obs(self) -> list[np.ndarray]:
        return [np.array([self.t / self.episode_limit, i], dtype=np.float32) for i in range(self.n_agents)]

    def get_obs_size(self) -> int:
        return 2

    def get_state(self) -> np.ndarray:
        return np.array([self.t / self.episode_limit, 1.0], dtype=np.float32)

    def get_state_size(self) -> int:
        return 2

    def get_avail_actions(self) -> list[np.ndarray]:
        return [(np.arange(max(self.dims)) < d).astype(np.int64) for d in self.dims]

    def get_total_actions(self) -> int:
        return max(self.dims)

    def get_env_info(self) -> dict[str, Any]:
        info = super().get_env_info()
        info["action_spaces"] = self.spaces
        return info

"""The pull-style environment contract every env adapter honours (SMAC's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from utils.errors import ConfigError


class MultiAgentEnv:
    """Base class of all environments.

    `step(actions) -> (reward, terminated, info)`; a time-limit ending sets `info["episode_limit"] = True`
    so the runner stores it as not terminated (the target bootstraps). Observations, state and available
    actions are pulled with the getters after `reset()` and after each `step()`.
    """

    n_agents: int
    episode_limit: int
    recording: list[np.ndarray] | None = None  # frames kept since start_recording (None: not recording)

    def reset(self) -> None:
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        raise NotImplementedError

    def get_obs(self) -> list[np.ndarray] | np.ndarray:
        """Every agent's observation: a list of arrays, or one array with a row per agent (which the env
        groups take as it is, without stacking)."""
        raise NotImplementedError

    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        return self.get_obs()[agent_id]

    def get_obs_size(self) -> int:
        raise NotImplementedError

    def get_state(self) -> np.ndarray:
        raise NotImplementedError

    def get_state_size(self) -> int:
        raise NotImplementedError

    def get_avail_actions(self) -> list[np.ndarray] | np.ndarray:
        """Every agent's 0/1 mask of available actions: a list of arrays, or one array with a row per agent."""
        raise NotImplementedError

    def get_avail_agent_actions(self, agent_id: int) -> np.ndarray:
        return self.get_avail_actions()[agent_id]

    def get_total_actions(self) -> int:
        raise NotImplementedError

    def get_stats(self) -> dict[str, Any]:
        return {}

    def render(self) -> Any:
        return None

    def close(self) -> None:
        return None

    def seed(self, seed: int | None) -> None:
        raise NotImplementedError

    def save_replay(self) -> None:
        return None

    def start_recording(self) -> None:
        """Keep a rendered frame after each reset and step from now on (`render=True` with `evaluate=True`).
        The env groups call `record_frame` after each; this works for any env whose `render` returns an RGB
        frame (an env may record otherwise by overriding all three, as mamujoco does)."""
        if type(self).render is MultiAgentEnv.render:
            raise ConfigError(f"{type(self).__name__} draws no frames, so it cannot record a GIF; render=True "
                              "works with the lbf, smax and mamujoco envs")
        self.recording = []

    def record_frame(self) -> None:
        """Keep the current frame while recording (called after each reset and step)."""
        if self.recording is not None:
            self.recording.append(np.asarray(self.render(), dtype=np.uint8))

    def stop_recording(self) -> list[np.ndarray]:
        """The frames recorded since `start_recording`, each `[height, width, 3]` uint8."""
        frames, self.recording = self.recording or [], None
        return frames

    def get_rng_state(self) -> Any:
        """The env's random state between episodes, for checkpoints (any picklable object); None where
        the env cannot capture it (e.g. a game process that keeps its own generator). An env that
        returns a state restores it in `set_rng_state`, so a resumed run sees the same episodes."""
        return None

    def set_rng_state(self, state: Any) -> None:
        """Restore a state from `get_rng_state`; None (nothing was captured) leaves the env as it is."""
        if state is not None:
            raise NotImplementedError(f"{type(self).__name__} returns no RNG state, so it cannot restore one")

    def get_env_info(self) -> dict[str, Any]:
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.get_total_actions(),
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
        }

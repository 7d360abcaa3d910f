"""Multi-Agent MuJoCo (`gymnasium_robotics.mamujoco_v1.parallel_env`) behind the pull-style contract.

Every agent moves some joints of one robot; the reward is shared. Actions are continuous: `step` takes
`[n_agents, D]` in each agent's Box bounds (D the largest action size; an agent's extra entries are
ignored), and `get_env_info()["action_spaces"]` lists the Boxes. Observations are float32, padded with
zeros to the largest agent's size; the state is the single-agent observation (`state()`). Time limits
(the wrapped gymnasium env's TimeLimit) end an episode with `info["episode_limit"] = True`, so it
bootstraps; unhealthy terminations (Ant, Hopper, Walker2d, Humanoid) are true terminals.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import io
import logging
import os
from typing import Any

import numpy as np

from components.action_spaces import BoxActions
from envs.multiagentenv import MultiAgentEnv
from utils.errors import ConfigError, MissingDependencyError

SCENARIOS = (
    "Ant", "HalfCheetah", "Hopper", "HumanoidStandup", "Humanoid", "Reacher", "Swimmer", "Pusher", "Walker2d",
    "InvertedPendulum", "InvertedDoublePendulum", "ManySegmentSwimmer", "ManySegmentAnt", "CoupledHalfCheetah",
)
STANDARD_CONFS = "HalfCheetah 2x3 or 6x1, Ant 2x4, 2x4d or 4x2, Hopper 3x1, Walker2d 2x3, Humanoid 9|8, Swimmer 2x1, Reacher 2x1"


def choose_gl_backend() -> str | None:
    """Pick MuJoCo's OpenGL backend for headless rendering before mujoco is first imported: the user's
    `MUJOCO_GL` if set, none when a display exists, else `egl` or, without libEGL, `osmesa`. Returns the
    choice (None: left to MuJoCo)."""
    if os.environ.get("MUJOCO_GL") or os.environ.get("DISPLAY"):
        return os.environ.get("MUJOCO_GL")
    for backend, library in (("egl", "EGL"), ("osmesa", "OSMesa")):
        if ctypes.util.find_library(library):
            os.environ["MUJOCO_GL"] = backend
            return backend
    return None


def _mujoco_warning(message: str) -> None:
    """MuJoCo's warnings go to Python's logging instead of a MUJOCO_LOG.TXT in the working directory; the
    deprecation notice about `settotalmass` in gymnasium's own robot models is dropped."""
    if "settotalmass" not in message:
        logging.getLogger("mujoco").warning(message)


def _import_mamujoco() -> Any:
    choose_gl_backend()
    try:
        import mujoco

        with contextlib.redirect_stderr(io.StringIO()):  # an import-time notice about unrelated Adroit envs
            from gymnasium_robotics import mamujoco_v1
    except ImportError as e:
        raise MissingDependencyError(
            f"env 'mamujoco' needs gymnasium-robotics and mujoco ({e}). "
            "Install them with: pip install gymnasium-robotics==1.4.2 mujoco==4.0.0"
        ) from e
    mujoco.set_mju_user_warning(_mujoco_warning)
    return mamujoco_v1


class MaMuJoCoEnv(MultiAgentEnv):
    """One MaMuJoCo task. `scenario`, `agent_conf` and `agent_obsk` go to `parallel_env`, and so do
    any other keyword arguments (e.g. `max_episode_steps`, `width`, `height`, `agent_factorization`).
    The env is built with `render_mode="rgb_array"` (nothing is drawn until `render()` is called);
    while recording it keeps the first frame of each episode and every `render_every`-th after it."""

    def __init__(
        self,
        scenario: str = "HalfCheetah",
        agent_conf: str | None = "2x3",
        agent_obsk: int | None = 1,
        seed: int | None = None,
        render_every: int = 10,
        **kwargs: Any,
    ) -> None:
        if not isinstance(render_every, int) or render_every < 1:
            raise ConfigError(f"mamujoco render_every must be a positive int, got {render_every!r}")
        if scenario not in SCENARIOS:
            raise ConfigError(f"mamujoco scenario {scenario!r} is unknown; valid: {', '.join(SCENARIOS)}")
        mamujoco_v1 = _import_mamujoco()
        kwargs.setdefault("render_mode", "rgb_array")
        kwargs.setdefault("disable_env_checker", True)
        try:
            self._env = mamujoco_v1.parallel_env(scenario, agent_conf, agent_obsk=agent_obsk, **kwargs)
        except TypeError as e:
            raise ConfigError(f"mamujoco rejected env_args for {scenario}: {e}") from e
        except Exception as e:
            if "partitioning" not in str(e):
                raise
            raise ConfigError(
                f"mamujoco has no agent_conf {agent_conf!r} for {scenario} ({e}); standard ones: {STANDARD_CONFS}"
            ) from e
        self.scenario, self.agent_conf = scenario, agent_conf
        self.agents = list(self._env.possible_agents)
        self.n_agents = len(self.agents)
        self.action_spaces = [self._env.action_space(a) for a in self.agents]
        self.box = BoxActions.from_spaces(self.action_spaces)
        self._obs_sizes = [int(self._env.observation_space(a).shape[0]) for a in self.agents]
        self._obs_size = max(self._obs_sizes)
        limit = self._env.single_agent_env.spec.max_episode_steps
        if limit is None:
            raise ConfigError(f"mamujoco {scenario} has no time limit; set env_args.max_episode_steps (e.g. 1000)")
        self.episode_limit = int(limit)
        self._seed = seed
        self._seeded = False
        self._obs = np.zeros((self.n_agents, self._obs_size), dtype=np.float32)
        self.render_every = render_every
        self._frames: list[np.ndarray] | None = None
        self._t = 0

    def _store_obs(self, obs: dict[str, np.ndarray]) -> None:
        for i, agent in enumerate(self.agents):
            self._obs[i, : self._obs_sizes[i]] = obs[agent]

    def reset(self) -> None:
        """A new episode; the first reset seeds the env with `seed`, later ones continue its generator."""
        obs, _ = self._env.reset(seed=None if self._seeded else self._seed)
        self._seeded = True
        self._store_obs(obs)
        self._t = 0
        self._record()

    def get_rng_state(self) -> dict[str, Any]:
        """Whether the first (seeded) reset has happened, and the generator that draws each reset's initial
        joint positions and velocities (MuJoCo's steps draw nothing): all the randomness between episodes."""
        return {"seeded": self._seeded, "rng": self._env.single_agent_env.unwrapped.np_random.bit_generator.state}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self._seeded = state["seeded"]
        self._env.single_agent_env.unwrapped.np_random.bit_generator.state = state["rng"]

    def step(self, actions: np.ndarray) -> tuple[float, bool, dict[str, Any]]:
        """actions `[n_agents, D]` in the Box bounds -> (shared reward, episode over, info)."""
        actions = np.asarray(actions, dtype=np.float32).reshape(self.n_agents, self.box.max_dim)
        joint = {agent: actions[i, : self.box.dims[i]] for i, agent in enumerate(self.agents)}
        obs, rewards, terminations, truncations, _ = self._env.step(joint)
        self._store_obs(obs)
        self._t += 1
        self._record()
        terminated = bool(terminations[self.agents[0]])
        truncated = bool(truncations[self.agents[0]])
        return float(rewards[self.agents[0]]), terminated or truncated, {"episode_limit": truncated and not terminated}

    def get_obs(self) -> list[np.ndarray]:
        return list(self._obs.copy())

    def get_obs_size(self) -> int:
        return self._obs_size

    def get_state(self) -> np.ndarray:
        return np.asarray(self._env.state(), dtype=np.float32)

    def get_state_size(self) -> int:
        return int(self._env.single_agent_env.observation_space.shape[0])

    def get_avail_actions(self) -> list[np.ndarray]:
        """All ones for the dimensions an agent has (0 for padding): `[n_agents, D]`."""
        return list(self.box.mask())

    def get_total_actions(self) -> int:
        return self.box.max_dim

    def get_env_info(self) -> dict[str, Any]:
        info = super().get_env_info()
        info["action_spaces"] = self.action_spaces
        return info

    def render(self) -> np.ndarray:
        """The current frame, `[height, width, 3]` uint8."""
        return self._env.render()

    def start_recording(self) -> None:
        """Keep frames from the next reset on (see the class docstring) until `stop_recording`."""
        self._frames = []

    def stop_recording(self) -> list[np.ndarray]:
        """The frames recorded since `start_recording`, each `[height, width, 3]` uint8."""
        frames, self._frames = self._frames or [], None
        return frames

    def _record(self) -> None:
        if self._frames is not None and self._t % self.render_every == 0:
            self._frames.append(self.render())

    def close(self) -> None:
        self._env.close()

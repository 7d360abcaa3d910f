"""Level-Based Foraging (lbforaging 2.0.0, gymnasium) behind the pull-style `MultiAgentEnv` contract."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from envs.multiagentenv import MultiAgentEnv
from utils.errors import ConfigError, MissingDependencyError

N_ACTIONS = 6
STATE_TYPES = ("concat", "full")
# Entry b is the 0/1 mask of the action set whose bits are b (bit a set = action a available).
_MASKS = list(((np.arange(2**N_ACTIONS)[:, None] >> np.arange(N_ACTIONS)) & 1).astype(np.int64))
ID_PATTERN = "Foraging{-2s}-{S}x{S}-{P}p-{F}f{-coop}-v3"
_ID_RE = re.compile(r"^Foraging(-2s)?-(\d+)x(\d+)-(\d+)p-(\d+)f(-coop)?-v3$")
# Constructor arguments users may not set through env_args, and why.
_MANAGED_KWARGS = {
    "max_episode_steps": "use env_args.time_limit instead",
    "grid_observation": "only vector observations are supported",
}
_ADAPTER_KWARGS = "key, seed, time_limit, state_type, normalise_obs"
# lbforaging takes these unchecked (a negative sight or zero food fails later, or never); checked here.
_KWARG_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "players": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "sight": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "max_num_food": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "penalty": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0, "a number >= 0"),
    "force_coop": (lambda v: isinstance(v, bool), "true or false"),
    "normalize_reward": (lambda v: isinstance(v, bool), "true or false"),
    "observe_agent_levels": (lambda v: isinstance(v, bool), "true or false"),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _import_gym() -> Any:
    try:
        import gymnasium as gym
        import lbforaging  # noqa: F401  (registers the Foraging-* ids)
    except ImportError as e:
        raise MissingDependencyError(
            f"env 'lbf' needs the lbforaging package ({e}). Install it with: pip install lbforaging==2.0.0"
        ) from e
    return gym


def _suggest(key: str, known: list[str]) -> str:
    if "-2s" in key:  # it belongs right after "Foraging"
        key = "Foraging-2s" + key.replace("-2s", "").removeprefix("Foraging")
        if key in known:
            return repr(key)
    match = _ID_RE.match(key)
    if match and int(match.group(5)) > 4:
        four = key.replace(f"-{match.group(5)}f", "-4f")
        if four in known:
            return f"key {four!r} with max_num_food={match.group(5)}"
    closest = difflib.get_close_matches(key, known, n=1, cutoff=0.0)
    return repr(closest[0]) if closest else "none"


def _resolve_spec(gym: Any, key: str) -> Any:
    key = key.removeprefix("lbforaging:")
    known = sorted(k for k in gym.envs.registry if k.startswith("Foraging"))
    if key not in known:
        raise ConfigError(
            f"Unknown lbf key {key!r}. Ids follow the pattern {ID_PATTERN}: S in 5..19, P in 2..9, F in 1..4; "
            "'-2s' (sight 2) goes before the size, '-coop' makes every food need all agents. "
            "For 5 or more food take the 4f id and set env_args.max_num_food (e.g. max_num_food=5). "
            f"Closest: {_suggest(key, known)}."
        )
    return gym.spec(key)


def _check_kwargs(gym: Any, spec: Any, kwargs: dict[str, Any]) -> None:
    creator = gym.envs.registration.load_env_creator(spec.entry_point)
    accepted = sorted(p for p in inspect.signature(creator.__init__).parameters if p != "self")
    for name, value in kwargs.items():
        if name not in accepted:
            raise ConfigError(
                f"lbf env_args has {name!r}, which {spec.id} does not accept. "
                f"Accepted: {', '.join(p for p in accepted if p not in _MANAGED_KWARGS)}, "
                f"plus {_ADAPTER_KWARGS}."
            )
        if name == "max_episode_steps" or (name == "grid_observation" and value):
            raise ConfigError(f"lbf env_args.{name} is not supported: {_MANAGED_KWARGS[name]}.")
        if name in _KWARG_RULES and not _KWARG_RULES[name][0](value):
            raise ConfigError(f"lbf env_args.{name}={value!r} is not valid: it must be {_KWARG_RULES[name][1]}.")


class LBFEnv(MultiAgentEnv):
    """One LBF task; the team reward is the sum of the agents' rewards.

    Observations are lbforaging's, or with `normalise_obs` scaled into [0, 1] (unseen entries stay -1).
    State types: "concat" joins the agents' observations; "full" reads the env itself, whatever the agents'
    sight: (y, x, level) per food slot (fixed from reset; an eaten or unspawned food is (-1, -1, 0)), then
    (y, x, level) per agent in agent order, positions scaled by the grid size - 1 and levels by their maxima.
    """

    def __init__(
        self,
        key: str = "Foraging-8x8-2p-3f-v3",
        seed: int | None = None,
        time_limit: int | None = None,
        state_type: str = "concat",
        normalise_obs: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(key, str):
            raise ConfigError(f"lbf env_args.key={key!r} is not valid: it must be an LBF id such as 'Foraging-8x8-2p-3f-v3'.")
        if state_type not in STATE_TYPES:
            raise ConfigError(f"lbf env_args.state_type={state_type!r} is not valid: it must be one of {', '.join(STATE_TYPES)}.")
        if time_limit is not None and (not _is_int(time_limit) or time_limit < 1):
            raise ConfigError(f"lbf env_args.time_limit={time_limit!r} is not valid: it must be a positive int or null.")
        if not isinstance(normalise_obs, bool):
            raise ConfigError(f"lbf env_args.normalise_obs={normalise_obs!r} is not valid: it must be true or false.")
        gym = _import_gym()
        spec = _resolve_spec(gym, key)
        _check_kwargs(gym, spec, kwargs)
        if time_limit is not None:
            spec = dataclasses.replace(spec, kwargs={**spec.kwargs, "max_episode_steps": int(time_limit)})
        try:
            self._env = gym.make(spec, disable_env_checker=True, **kwargs)
        except (AssertionError, TypeError, ValueError) as e:
            raise ConfigError(f"lbforaging rejected the env_args for {spec.id}: {e}") from e
        self.key = spec.id
        self.state_type = state_type
        self._u = self._env.unwrapped
        self._players = self._u.players
        self.n_agents = len(self._players)
        self.episode_limit = int(self._u._max_episode_steps)
        self._obs_size = int(self._u.observation_space[0].shape[0])
        self.normalise_obs = bool(normalise_obs)
        self._obs_high = np.maximum(self._u.observation_space[0].high.astype(np.float32), 1.0)
        self._n_food = int(self._u.max_num_food)
        rows, cols = self._u.field_size
        self._pos_scale = np.array([max(rows - 1, 1), max(cols - 1, 1)], dtype=np.float32)
        self._food_level_scale = float(self._u.observation_space[0].high[2])
        self._player_level_scale = float(max(self._u.max_player_level))
        self._obs: list[np.ndarray] = []
        self._avail: list[np.ndarray] | None = None
        self._food_pos = np.zeros((0, 2), dtype=np.int64)
        self.seed(seed)

    @property
    def unwrapped(self) -> Any:
        """The lbforaging `ForagingEnv` (for scripted policies and tests)."""
        return self._u

    def seed(self, seed: int | None) -> None:
        """The next reset uses `seed`; later resets use seeds drawn from a generator seeded with it."""
        self._next_seed = None if seed is None else int(seed)
        self._rng = np.random.default_rng(self._next_seed)

    def get_rng_state(self) -> dict[str, Any]:
        """The seed of the next reset and the generator that draws the later ones. Every reset reseeds
        lbforaging, and its `step` draws nothing, so this is all the randomness between episodes."""
        return {"next_seed": self._next_seed, "rng": self._rng.bit_generator.state}

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self._next_seed = state["next_seed"]
        self._rng.bit_generator.state = state["rng"]

    def reset(self) -> None:
        # A used env treats the last episode's player positions as occupied when spawning; clear them so
        # that reset(seed=s) does not depend on the previous episode.
        for p in self._players:
            p.position = None
        obs, _ = self._env.reset(seed=self._next_seed)
        self._next_seed = int(self._rng.integers(2**31 - 1))
        self._obs = self._observe(obs)
        self._avail = None
        self._food_pos = np.argwhere(self._u.field > 0)

    def step(self, actions: Any) -> tuple[float, bool, dict[str, Any]]:
        if hasattr(actions, "tolist"):
            actions = actions.tolist()
        obs, rewards, done, _, _ = self._env.step(actions)
        self._obs = self._observe(obs)
        self._avail = None
        limit = bool(done) and self._u.current_step >= self.episode_limit and self._u.field.any()
        return float(sum(rewards)), bool(done), {"episode_limit": bool(limit)}

    def _observe(self, obs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        """With `normalise_obs`, every entry is scaled by its maximum into [0, 1]; unseen entries stay -1."""
        if not self.normalise_obs:
            return list(obs)
        return [np.where(o < 0, -1.0, o / self._obs_high).astype(np.float32) for o in obs]

    def get_obs(self) -> list[np.ndarray]:
        return self._obs

    def get_obs_size(self) -> int:
        return self._obs_size

    def get_state(self) -> np.ndarray:
        if self.state_type == "concat":
            return np.concatenate(self._obs)
        state = np.full((self._n_food + self.n_agents, 3), -1.0, dtype=np.float32)
        state[:, 2] = 0.0
        n = len(self._food_pos)
        if n:
            levels = self._u.field[self._food_pos[:, 0], self._food_pos[:, 1]]
            left = levels > 0
            state[:n][left, :2] = self._food_pos[left] / self._pos_scale
            state[:n, 2] = levels / self._food_level_scale
        players = state[self._n_food :]
        players[:, :2] = np.array([p.position for p in self._players]) / self._pos_scale
        players[:, 2] = np.array([p.level for p in self._players]) / self._player_level_scale
        return state.reshape(-1)

    def get_state_size(self) -> int:
        if self.state_type == "concat":
            return self.n_agents * self._obs_size
        return 3 * (self._n_food + self.n_agents)

    def get_avail_actions(self) -> list[np.ndarray]:
        if self._avail is None:
            valid = self._u._valid_actions
            self._avail = [_MASKS[sum(1 << a._value_ for a in valid[p])].copy() for p in self._players]
        return self._avail

    def get_total_actions(self) -> int:
        return N_ACTIONS

    def get_stats(self) -> dict[str, Any]:
        return {}

    def render(self) -> np.ndarray:
        """An RGB frame (H, W, 3) uint8, rendered off-screen."""
        try:
            if not self._u._rendering_initialized:
                import pyglet

                pyglet.options["headless"] = True
            return self._u.render(mode="rgb_array")
        except Exception as e:
            raise MissingDependencyError(
                f"lbf rendering failed ({type(e).__name__}: {e}). It needs pyglet<2 (pip install 'pyglet<2') "
                "and an EGL/OpenGL library for headless rendering (e.g. apt-get install libegl1 libgl1)."
            ) from e

    def close(self) -> None:
        self._env.close()

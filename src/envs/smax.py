"""SMAC-like maps without StarCraft II: JaxMARL's SMAX behind the pull-style `MultiAgentEnv` contract.

SMAX reimplements SMAC's unit micromanagement in JAX with its own heuristic enemy, so its win rates are not
SMAC's. Our agents are SMAX's allies. Actions per agent: 0-3 move, 4 stop (always available, the only action
of a dead agent), 5 + j attack enemy j.

`reset`, `step` and the read-out of observations, state and available actions run as two jitted functions,
built once per process for each map and settings and shared by all envs that use them, so jax compiles each
once per run (at its first call). The JAX key comes from the seed
and is split inside the jitted functions, so a seeded env replays exactly. jax is only imported when an env
is built; the extra installs with `pip install -r requirements-smax.txt && pip install --no-deps jaxmarl==0.2.0`.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import math
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from envs.multiagentenv import MultiAgentEnv
from utils.errors import ConfigError, MissingDependencyError

# Episode limits in agent steps: SMAC's per map, SMACv2's for the smacv2_* maps (SMAX steps, like SMAC's,
# are 8 world steps of 1/16 s). These are the maps of jaxmarl 0.2.0's `map_name_to_scenario`.
MAP_LIMITS = {
    "3m": 60, "8m": 120, "25m": 150, "5m_vs_6m": 70, "10m_vs_11m": 150, "27m_vs_30m": 180, "2s3z": 120,
    "3s5z": 150, "3s5z_vs_3s6z": 170, "3s_vs_5z": 250, "6h_vs_8z": 150,
    "smacv2_5_units": 200, "smacv2_10_units": 200, "smacv2_20_units": 200,
}  # fmt: skip
ATTACK_MODES = ("closest", "random")
OBSERVATION_TYPES = ("unit_list", "conic")
INSTALL = "pip install -r requirements-smax.txt && pip install --no-deps jaxmarl==0.2.0"


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Hide jaxmarl's import chatter on stdout and undo its reset of the standard streams.

    While jaxmarl 0.2.0 is imported, its mabrax module sets `sys.stdout, sys.stderr = sys.__stdout__,
    sys.__stderr__`, which would end sacred's (and pytest's) capture of the run's output; and jaxmarl then
    prints a note about its submoduled environments.
    """
    saved = sys.stdout, sys.stderr, sys.__stdout__
    sys.stdout = sys.__stdout__ = io.StringIO()
    try:
        yield
    finally:
        sys.stdout, sys.stderr, sys.__stdout__ = saved


def _load_smax() -> tuple[Any, Any, Any]:
    """(jax, HeuristicEnemySMAX, map_name_to_scenario); jax runs on the CPU unless JAX_PLATFORMS says else."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        with _quiet_import():
            import jax
            from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario
    except ImportError as e:
        raise MissingDependencyError(
            f"env 'smax' needs JaxMARL and jax, an optional extra ({type(e).__name__}: {e}). Install it with:\n"
            f"  {INSTALL}\n(jax on the CPU, about 650 MB; --no-deps keeps jaxmarl from pulling gymnax, which "
            "would downgrade gymnasium). Runnable without it: --env-config=lbf."
        ) from e
    return jax, HeuristicEnemySMAX, map_name_to_scenario


def _check_choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        match = difflib.get_close_matches(str(value), list(valid), n=1, cutoff=0.0)
        hint = f" Did you mean {match[0]!r}?" if match else ""
        raise ConfigError(f"smax env_args.{name}={value!r} is not valid.{hint} Valid: {', '.join(valid)}")


# The outputs of reset and step, packed in this order into one float32 vector (`_build_functions`): one
# transfer from the device a step instead of one per output (~85 us for the dict of nine on a CPU).
OUTPUT_KEYS = ("obs", "state", "avail", "dead_allies", "dead_enemies", "won", "eliminated", "reward", "done")
Layout = list[tuple[str, slice, tuple[int, ...], Any]]


def _build_functions(jax: Any, env: Any) -> tuple[Callable[..., Any], Callable[..., Any], Layout]:
    """The jitted reset(key) and step(key, state, actions), both returning (next_key, env_state, packed
    outputs), and the layout of the packed vector: (name, its span, shape, dtype) per `OUTPUT_KEYS` entry. Every
    output is exact in float32 (float32 values, small counts, flags)."""
    jnp = jax.numpy
    n_allies, n_types = env.num_allies, env.unit_type_bits
    map_size = jnp.array([env.map_width, env.map_height], dtype=jnp.float32)

    def outputs(state: Any, reward: Any, done: Any) -> dict[str, Any]:
        s = state.state
        obs = env.get_obs(state)
        avail = env.get_avail_actions(state)
        alive = s.unit_alive
        cooldown = s.unit_weapon_cooldowns / env.unit_type_weapon_cooldowns[s.unit_types]
        health = s.unit_health / env.unit_type_health[s.unit_types]
        units = jnp.concatenate(
            [
                health[:, None],
                s.unit_positions / map_size,
                jnp.clip(cooldown, 0.0, 1.0)[:, None],
                jax.nn.one_hot(s.unit_types, n_types),
            ],
            axis=1,
        )
        units = units * alive[:, None]
        world = jnp.concatenate([units.reshape(-1), s.unit_teams, s.unit_types / (n_types - 1)])
        allies_dead = jnp.sum(~alive[:n_allies])
        enemies_dead = jnp.sum(~alive[n_allies:])
        return {
            "obs": jnp.stack([obs[a] for a in env.agents]).astype(jnp.float32),
            "state": world.astype(jnp.float32),
            "avail": jnp.stack([avail[a] for a in env.agents]),
            "dead_allies": allies_dead,
            "dead_enemies": enemies_dead,
            "won": (enemies_dead == env.num_enemies) & (allies_dead < n_allies),
            "eliminated": (enemies_dead == env.num_enemies) | (allies_dead == n_allies),
            "reward": reward,
            "done": done,
        }

    def pack(out: dict[str, Any]) -> Any:
        return jnp.concatenate([jnp.ravel(out[k]).astype(jnp.float32) for k in OUTPUT_KEYS])

    def strong(state: Any) -> Any:
        # Some integer leaves of a reset state are weakly typed and a stepped state's are not; without
        # one type for both, jit would compile `step` a second time.
        return jax.tree.map(lambda x: x.astype(x.dtype), state)

    def reset_outputs(key: Any) -> tuple[Any, Any, dict[str, Any]]:
        key, sub = jax.random.split(key)
        _, state = env.reset(sub)
        state = strong(state)
        return key, state, outputs(state, jnp.float32(0.0), jnp.bool_(False))

    def reset(key: Any) -> tuple[Any, Any, Any]:
        key, state, out = reset_outputs(key)
        return key, state, pack(out)

    def step(key: Any, state: Any, actions: Any) -> tuple[Any, Any, Any]:
        key, sub = jax.random.split(key)
        _, state, rewards, dones, _ = env.step_env(sub, state, {a: actions[i] for i, a in enumerate(env.agents)})
        state = strong(state)
        return key, state, pack(outputs(state, rewards[env.agents[0]], dones["__all__"]))

    shapes = jax.eval_shape(reset_outputs, jax.random.PRNGKey(0))[2]
    layout, start = [], 0
    for k in OUTPUT_KEYS:
        size = math.prod(shapes[k].shape)
        layout.append((k, slice(start, start + size), tuple(shapes[k].shape), np.dtype(shapes[k].dtype)))
        start += size
    return jax.jit(reset), jax.jit(step), layout


@functools.cache
def _compiled(
    map_name: str,
    episode_limit: int,
    enemy_shoots: bool,
    attack_mode: str,
    won_battle_bonus: float,
    observation_type: str,
    see_enemy_actions: bool,
    walls_cause_death: bool,
) -> tuple[Any, Callable[..., Any], Callable[..., Any], Layout]:
    """(SMAX env, jitted reset, jitted step, their outputs' layout) for these settings, built once per process.

    Every env with the same settings shares them (the SMAX env object is stateless), so jax compiles each
    function once however many envs a runner holds.
    """
    jax, enemy_env_cls, map_name_to_scenario = _load_smax()
    env = enemy_env_cls(
        scenario=map_name_to_scenario(map_name),
        # SMAX checks `step >= max_steps` before it counts the step, so its episodes last max_steps + 1.
        max_steps=episode_limit - 1,
        enemy_shoots=enemy_shoots,
        attack_mode=attack_mode,
        won_battle_bonus=won_battle_bonus,
        observation_type=observation_type,
        see_enemy_actions=see_enemy_actions,
        walls_cause_death=walls_cause_death,
    )
    return (env, *_build_functions(jax, env))


class SMAXEnv(MultiAgentEnv):
    """One SMAX map: reward, obs, state and masks per SMAX, with the state normalised and SMAC's limits.

    Reward (shared): the fraction of enemy health removed this step / number of enemies, plus
    `won_battle_bonus` on a win (an episode's return is at most 1 + bonus). Observations are SMAX's, already
    in [-1, 1]. The state has SMAX's world-state layout (per unit: health fraction, x, y, weapon cooldown,
    unit-type one-hot; zeros for dead units; then every unit's team and type) with positions divided by the
    map size, cooldowns by the unit type's cooldown (clipped to [0, 1]) and types by the largest type index,
    so every entry is in [0, 1]. `info` carries `battle_won`, `episode_limit` (a time-out, stored as not
    terminated), `dead_allies` and `dead_enemies`. Both teams can die in the same step (a draw: not won).
    """

    def __init__(
        self,
        map_name: str = "3m",
        seed: int | None = None,
        time_limit: int | None = None,
        enemy_shoots: bool = True,
        attack_mode: str = "closest",
        won_battle_bonus: float = 1.0,
        observation_type: str = "unit_list",
        see_enemy_actions: bool = True,
        walls_cause_death: bool = True,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise ConfigError(
                f"smax env_args has unknown keys {sorted(unknown)}. Accepted: map_name, seed, time_limit, "
                "enemy_shoots, attack_mode, won_battle_bonus, observation_type, see_enemy_actions, "
                "walls_cause_death."
            )
        _check_choice("map_name", map_name, tuple(MAP_LIMITS))
        _check_choice("attack_mode", attack_mode, ATTACK_MODES)
        _check_choice("observation_type", observation_type, OBSERVATION_TYPES)
        if time_limit is not None and (isinstance(time_limit, bool) or not isinstance(time_limit, int) or time_limit < 1):
            raise ConfigError(f"smax env_args.time_limit must be a positive int or null, got {time_limit!r}.")
        self._jax = _load_smax()[0]
        self.map_name = map_name
        self.episode_limit = int(time_limit or MAP_LIMITS[map_name])
        self._env, self._reset_fn, self._step_fn, self._layout = _compiled(
            map_name,
            self.episode_limit,
            bool(enemy_shoots),
            attack_mode,
            float(won_battle_bonus),
            observation_type,
            bool(see_enemy_actions),
            bool(walls_cause_death),
        )
        self.n_agents = int(self._env.num_allies)
        self.n_enemies = int(self._env.num_enemies)
        self._n_actions = int(self._env.action_space(self._env.agents[0]).n)
        self._obs_size = int(self._env.obs_size)
        self._state_size = int(self._env.state_size)
        self._state: Any = None
        self._out: dict[str, np.ndarray] = {}
        self._view: tuple[float, float, float] | None = None  # the part of the map render shows this episode
        self.seed(seed)

    @property
    def compiled_functions(self) -> tuple[Any, Any]:
        """The jitted reset and step (their `_cache_size()` counts compilations)."""
        return self._reset_fn, self._step_fn

    def seed(self, seed: int | None) -> None:
        """The JAX key for all later resets and steps; None draws one from the OS."""
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31 - 1))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
            raise ConfigError(f"smax seed must be an int in [0, 2**32) or null, got {seed!r}.")
        self._key = self._jax.random.PRNGKey(int(seed))

    def get_rng_state(self) -> np.ndarray:
        """The JAX key (uint32 array): every later reset and step draws from it and nothing else."""
        return np.array(self._key)

    def set_rng_state(self, state: np.ndarray) -> None:
        self._key = self._jax.numpy.asarray(state, dtype=self._jax.numpy.uint32)

    def reset(self) -> None:
        self._view = None
        self._key, self._state, packed = self._reset_fn(self._key)
        self._out = self._unpack(packed)

    def step(self, actions: Any) -> tuple[float, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("SMAXEnv.step() was called before reset().")
        actions = self._check_actions(actions)
        self._key, self._state, packed = self._step_fn(self._key, self._state, actions)
        self._out = self._unpack(packed)
        done = bool(self._out["done"])
        info = {
            "battle_won": bool(self._out["won"]),
            "episode_limit": done and not bool(self._out["eliminated"]),
            "dead_allies": int(self._out["dead_allies"]),
            "dead_enemies": int(self._out["dead_enemies"]),
        }
        return float(self._out["reward"]), done, info

    def _unpack(self, packed: Any) -> dict[str, np.ndarray]:
        """The outputs from their packed vector (one transfer from the device), each in its own dtype."""
        flat = np.asarray(packed)
        return {name: flat[span].reshape(shape).astype(dtype) for name, span, shape, dtype in self._layout}

    def _check_actions(self, actions: Any) -> np.ndarray:
        acts = np.asarray(actions).reshape(-1)
        if acts.shape != (self.n_agents,) or not np.issubdtype(acts.dtype, np.integer):
            raise ValueError(
                f"smax {self.map_name} expects {self.n_agents} integer actions, got {np.asarray(actions)!r}."
            )
        avail = self._out["avail"]
        inside = (acts >= 0) & (acts < self._n_actions)
        ok = inside.copy()
        ok[inside] = avail[np.flatnonzero(inside), acts[inside]] == 1
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise ValueError(
                f"smax agent {i} chose action {int(acts[i])}, which is not available; available: "
                f"{np.flatnonzero(avail[i]).tolist()} (0-3 move, 4 stop, 5+j attack enemy j)."
            )
        return acts.astype(np.int32)

    def get_obs(self) -> list[np.ndarray]:
        return list(np.array(self._out["obs"]))

    def get_obs_size(self) -> int:
        return self._obs_size

    def get_state(self) -> np.ndarray:
        return np.array(self._out["state"])

    def get_state_size(self) -> int:
        return self._state_size

    def get_avail_actions(self) -> list[np.ndarray]:
        return list(self._out["avail"].astype(np.int64))

    def get_total_actions(self) -> int:
        return self._n_actions

    def render(self) -> np.ndarray:
        """The current state as an RGB frame `[height, width, 3]` uint8 (see `envs.smax_render`)."""
        from envs.smax_render import draw_units, episode_view

        if self._state is None:
            raise RuntimeError("SMAXEnv.render() was called before reset().")
        s = self._jax.device_get(self._state.state)
        env = self._env
        types = np.asarray(s.unit_types)
        alive = np.asarray(s.unit_alive)
        map_size = (float(env.map_width), float(env.map_height))
        if self._view is None:  # the episode's first frame fixes the view around where its units are
            self._view = episode_view(np.asarray(s.unit_positions)[alive], map_size)
        caption = (f"SMAX {self.map_name}  step {int(s.step)}  allies {int(alive[:self.n_agents].sum())}/{self.n_agents}  "
                   f"enemies {int(alive[self.n_agents:].sum())}/{self.n_enemies}")
        return draw_units(
            np.asarray(s.unit_positions), alive, np.asarray(s.unit_teams),
            np.asarray(s.unit_health) / np.asarray(env.unit_type_health)[types], np.asarray(env.unit_type_radiuses)[types],
            [env.unit_type_names[t][0] for t in types], self._view, caption)

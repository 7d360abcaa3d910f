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
OBS_ENCODINGS = ("sentinel", "presence")
# Entry b is the 0/1 mask of the action set whose bits are b (bit a set = action a available).
_MASKS = list(((np.arange(2**N_ACTIONS)[:, None] >> np.arange(N_ACTIONS)) & 1).astype(np.int64))
ID_PATTERN = "Foraging{-2s}-{S}x{S}-{P}p-{F}f{-coop}-v3"
_ID_RE = re.compile(r"^Foraging(-2s)?-(\d+)x(\d+)-(\d+)p-(\d+)f(-coop)?-v3$")
# Constructor arguments users may not set through env_args, and why.
_MANAGED_KWARGS = {
    "max_episode_steps": "use env_args.time_limit instead",
    "grid_observation": "only vector observations are supported",
}
_ADAPTER_KWARGS = "key, seed, time_limit, state_type, normalise_obs, obs_encoding"
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


def _lean_env_class(creator: type) -> type:
    """lbforaging's env class, the same episodes, less the per-step work that costs most there:
    - no observation vectors after every reset and step (`_make_gym_obs`: Python loops over agents,
      entities and a space check, about two thirds of its step time), which `LBFEnv` builds itself for
      all agents at once from the same field and players;
    - each player's valid actions (`_gen_valid_moves`) by direct tests of the field around it instead of
      `_is_valid_action` over the `Action` enum (~4 us against ~14 us for two players): the same lists,
      in `Action` order, with lbforaging's own rules (a move onto a free cell inside the grid; LOAD when
      the sum of the field over the four clamped neighbours, as `adjacent_food`, is positive), and with
      them each player's set as bits (`valid_action_bits`, bit a for `Action` a), which is the avail mask;
    - the players' positions and levels as Python ints from their spawn on (lbforaging draws numpy ints,
      on which every later comparison and move costs ~1 us): the same values, so the same episodes."""
    from lbforaging.foraging.environment import Action

    class LeanForagingEnv(creator):  # type: ignore[misc, valid-type]
        def _make_gym_obs(self) -> None:
            return None

        def spawn_players(self, *args: Any, **kwargs: Any) -> None:
            super().spawn_players(*args, **kwargs)
            for player in self.players:
                if player.position is not None:
                    player.position = (int(player.position[0]), int(player.position[1]))
                    player.level = int(player.level)

        def _gen_valid_moves(self) -> None:
            field = self.field
            last_row, last_col = self.field_size[0] - 1, self.field_size[1] - 1
            valid, bits = {}, []
            for player in self.players:
                r, c = player.position
                actions, b = [Action.NONE], 1
                if r > 0 and field[r - 1, c] == 0:
                    actions.append(Action.NORTH)
                    b |= 2
                if r < last_row and field[r + 1, c] == 0:
                    actions.append(Action.SOUTH)
                    b |= 4
                if c > 0 and field[r, c - 1] == 0:
                    actions.append(Action.WEST)
                    b |= 8
                if c < last_col and field[r, c + 1] == 0:
                    actions.append(Action.EAST)
                    b |= 16
                if field[max(r - 1, 0), c] + field[min(r + 1, last_row), c] + field[r, max(c - 1, 0)] + field[r, min(c + 1, last_col)] > 0:
                    actions.append(Action.LOAD)
                    b |= 32
                valid[player] = actions
                bits.append(b)
            self._valid_actions = valid
            self.valid_action_bits = bits

    return LeanForagingEnv


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

    Observation encodings (`obs_encoding`):
    - "sentinel": lbforaging's vectors: (y, x, level) of the foods the agent sees, in the order of
      `np.nonzero` over its window (an eaten food shifts the later ones a slot down), then the agents it
      sees, self first; an unseen or absent entity is (-1, -1, 0).
    - "presence": every entity keeps one slot for the episode: (y, x, level, present) per food, in the
      order of `np.argwhere(field > 0)` at reset, then (y, x, level, present) per agent, self first and
      the others in index order ((y, x, present) without `observe_agent_levels`). An eaten, unspawned or
      unseen entity is all zeros; seen ones hold lbforaging's local coordinates and levels and present 1.
      Visibility and coordinates follow lbforaging's own rules (`neighborhood` for food, `_make_obs` for
      agents), so the present entities are exactly those lbforaging lists. A world model then sees an
      eaten food as one slot going to zero, not a jump to -1 plus a reshuffle of the other slots.
    With `normalise_obs`, positions and levels are divided by their maxima into [0, 1] (sentinel: unseen
    entries stay -1; presence bits stay 1).
    State types: "concat" joins the agents' observations; "full" reads the env itself, whatever the agents'
    sight: one row per food slot (fixed from reset), then one per agent in agent order, positions scaled by
    the grid size - 1 and levels by their maxima. Rows are (y, x, level), an eaten or unspawned food
    (-1, -1, 0), with "sentinel"; (y, x, level, present), an eaten or unspawned food all zeros, with
    "presence".
    """

    def __init__(
        self,
        key: str = "Foraging-8x8-2p-3f-v3",
        seed: int | None = None,
        time_limit: int | None = None,
        state_type: str = "concat",
        normalise_obs: bool = False,
        obs_encoding: str = "sentinel",
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
        if obs_encoding not in OBS_ENCODINGS:
            raise ConfigError(
                f"lbf env_args.obs_encoding={obs_encoding!r} is not valid: it must be one of {', '.join(OBS_ENCODINGS)}."
            )
        gym = _import_gym()
        spec = _resolve_spec(gym, key)
        _check_kwargs(gym, spec, kwargs)
        if time_limit is not None:
            spec = dataclasses.replace(spec, kwargs={**spec.kwargs, "max_episode_steps": int(time_limit)})
        spec = dataclasses.replace(spec, entry_point=_lean_env_class(gym.envs.registration.load_env_creator(spec.entry_point)))
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
        self.normalise_obs = bool(normalise_obs)
        self.obs_encoding = obs_encoding
        self._n_food = int(self._u.max_num_food)
        self._sight = int(self._u.sight)
        self._observe_levels = bool(self._u._observe_agent_levels)
        # presence: 4 numbers per food slot, 4 (3 without agent levels) per agent slot.
        self._player_width = 4 if self._observe_levels else 3
        if obs_encoding == "presence":
            self._obs_size = 4 * self._n_food + self._player_width * self.n_agents
        else:
            self._obs_size = int(self._u.observation_space[0].shape[0])
        # `normalise_obs` divides each entry by its maximum in lbforaging's observation space (at least 1):
        # (y, x, level) of a food slot, (y, x, level) of an agent slot (level 1 without agent levels, which
        # are then not observed); both encodings use these.
        high = np.maximum(self._u.observation_space[0].high.astype(np.float32), 1.0)
        scale = high if self.normalise_obs else np.ones_like(high)
        self._food_obs_scale = tuple(float(v) for v in scale[:3])
        player = [float(v) for v in scale[3 * self._n_food : 3 * self._n_food + self._player_width - 1]]
        self._player_obs_scale = (*player[:2], player[2] if self._observe_levels else 1.0)
        # Row i: agent i's player slots, self first, then the others in index order.
        self._slot_order = [[i, *(j for j in range(self.n_agents) if j != i)] for i in range(self.n_agents)]
        # lbforaging's vector with every entity unseen: (-1, -1, 0) per food, (-1, -1[, 0]) per agent
        self._sentinel_row = [-1.0, -1.0, 0.0] * self._n_food + ([-1.0, -1.0, 0.0] if self._observe_levels else [-1.0, -1.0]) * self.n_agents
        rows, cols = self._u.field_size
        self._field_shape = (int(rows), int(cols))
        self._pos_scale_floats = (float(max(rows - 1, 1)), float(max(cols - 1, 1)))
        self._food_level_scale = float(self._u.observation_space[0].high[2])
        self._player_level_scale = float(max(self._u.max_player_level))
        self._obs = np.zeros((self.n_agents, self._obs_size), dtype=np.float32)
        self._avail: np.ndarray | None = None
        self._food_slots: list[tuple[int, int]] = []  # reset's food positions, row-major: the state's food slots
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
        self._env.reset(seed=self._next_seed)
        self._next_seed = int(self._rng.integers(2**31 - 1))
        self._food_slots = [(r, c) for r, c in np.argwhere(self._u.field > 0).tolist()]
        self._obs = self._observe()
        self._avail = None

    def step(self, actions: Any) -> tuple[float, bool, dict[str, Any]]:
        if hasattr(actions, "tolist"):
            actions = actions.tolist()
        _, rewards, done, _, _ = self._env.step(actions)
        self._obs = self._observe()
        self._avail = None
        limit = bool(done) and self._u.current_step >= self.episode_limit and self._u.field.any()
        return float(sum(rewards)), bool(done), {"episode_limit": bool(limit)}

    def _observe(self) -> np.ndarray:
        """The agents' observations `[agents, obs_size]` in `obs_encoding`, from the env's field and players.
        With `normalise_obs`, entries are scaled by their maxima into [0, 1] and unseen sentinel entries stay -1."""
        return self._presence_obs() if self.obs_encoding == "presence" else self._sentinel_obs()

    def _player_cells(self) -> list[tuple[int, int, int]]:
        """(row, column, level) of each player (Python ints: `_lean_env_class`)."""
        return [(*p.position, p.level) for p in self._players]

    def _windows(self, players: list[tuple[int, int, int]]) -> list[tuple[list[int], int, int, int, int]]:
        """Per agent, its player slots (self first) and lbforaging's window of it: rows oy .. ey - 1 and
        columns ox .. ex - 1, origin (oy, ox) = max(position - sight, 0) (`neighborhood`); local
        coordinates are relative to the origin (`_transform_to_neighborhood` agrees). `players` as
        `_player_cells` gives them."""
        sight, (rows, cols) = self._sight, self._field_shape
        windows = []
        for order in self._slot_order:
            y, x, _ = players[order[0]]
            windows.append((order, max(y - sight, 0), max(x - sight, 0), min(y + sight + 1, rows), min(x + sight + 1, cols)))
        return windows

    def _sentinel_obs(self) -> np.ndarray:
        """(n_agents, obs_size): lbforaging's own vectors (`_make_gym_obs`), built from the field and players.
        Agent i sees the foods in its window in row-major order and the agents whose local coordinates
        lie in [0, 2 * sight] (`_make_obs`), itself first, each packed into the next free slot; the slots
        left over hold (-1, -1, 0) ((-1, -1) for agents without `observe_agent_levels`). With
        `normalise_obs` the seen entries are divided by their maxima: in float64 and then rounded to float32,
        which gives the float32 quotient itself (float64 has more than 2 x 24 + 2 bits). Plain Python over
        these few entities: numpy's per-call cost is larger than the work."""
        reach = 2 * self._sight
        # The foods on the field in row-major order, as np.nonzero over any window of it lists them: reset's
        # food slots (row-major) less the eaten ones (lbforaging spawns food only at reset).
        foods = [food for food in self._slot_foods() if food[2] > 0]
        players = self._player_cells()
        fy, fx, fl = self._food_obs_scale
        py_, px_, pl = self._player_obs_scale
        width = 3 if self._observe_levels else 2
        out = []
        for order, oy, ox, ey, ex in self._windows(players):
            row = list(self._sentinel_row)
            k = 0
            for r, c, level in foods:
                if oy <= r < ey and ox <= c < ex:
                    row[k : k + 3] = ((r - oy) / fy, (c - ox) / fx, level / fl)
                    k += 3
            k = 3 * self._n_food
            for j in order:
                py, px, level = players[j]
                ly, lx = py - oy, px - ox
                if 0 <= ly <= reach and 0 <= lx <= reach:
                    row[k : k + width] = (ly / py_, lx / px_, level / pl)[:width]
                    k += width
            out.append(row)
        return np.array(out, dtype=np.float32)

    def _slot_foods(self) -> list[tuple[int, int, int]]:
        """(row, column, level now) of each of reset's foods, in slot order (level 0 once eaten)."""
        field = self._u.field
        return [(r, c, int(field[r, c])) for r, c in self._food_slots]

    def _presence_obs(self) -> np.ndarray:
        """(n_agents, obs_size): the presence encoding, with `_sentinel_obs`'s visibility rules, in plain
        Python as it is."""
        reach = 2 * self._sight
        foods = self._slot_foods()
        players = self._player_cells()
        fy, fx, fl = self._food_obs_scale
        py_, px_, pl = self._player_obs_scale
        empty_player = [0.0] * self._player_width
        out = []
        for order, oy, ox, ey, ex in self._windows(players):
            row: list[float] = []
            for r, c, level in foods:
                if level > 0 and oy <= r < ey and ox <= c < ex:
                    row += ((r - oy) / fy, (c - ox) / fx, level / fl, 1.0)
                else:
                    row += (0.0, 0.0, 0.0, 0.0)
            row += [0.0, 0.0, 0.0, 0.0] * (self._n_food - len(foods))
            for j in order:
                py, px, level = players[j]
                ly, lx = py - oy, px - ox
                if 0 <= ly <= reach and 0 <= lx <= reach:
                    row += (ly / py_, lx / px_, level / pl, 1.0) if self._observe_levels else (ly / py_, lx / px_, 1.0)
                else:
                    row += empty_player
            out.append(row)
        return np.array(out, dtype=np.float32)

    def get_obs(self) -> np.ndarray:
        """The agents' observations as one float32 array `[agents, obs_size]`, a row per agent (the env
        groups then stack nothing)."""
        return self._obs

    def get_obs_size(self) -> int:
        return self._obs_size

    def get_state(self) -> np.ndarray:
        """The global state: per food slot (reset's foods in row-major order) and then per player, position
        / (field size - 1) and level / its maximum, with a presence flag in the presence encoding; an eaten
        or missing food is (-1, -1, 0) in the sentinel encoding and all 0 in the presence one. Plain Python
        over the few entities, as the observations."""
        if self.state_type == "concat":
            return self._obs.flatten()
        presence = self.obs_encoding == "presence"
        sy, sx = self._pos_scale_floats
        fl, pl = self._food_level_scale, self._player_level_scale
        empty = [0.0, 0.0, 0.0, 0.0] if presence else [-1.0, -1.0, 0.0]
        out: list[float] = []
        for r, c, level in self._slot_foods():
            if level > 0:
                out += (r / sy, c / sx, level / fl, 1.0) if presence else (r / sy, c / sx, level / fl)
            else:
                out += empty
        out += empty * (self._n_food - len(self._food_slots))
        for py, px, level in self._player_cells():
            out += (py / sy, px / sx, level / pl, 1.0) if presence else (py / sy, px / sx, level / pl)
        return np.array(out, dtype=np.float32)

    def get_state_size(self) -> int:
        if self.state_type == "concat":
            return self.n_agents * self._obs_size
        return (4 if self.obs_encoding == "presence" else 3) * (self._n_food + self.n_agents)

    def get_avail_actions(self) -> np.ndarray:
        """The agents' available actions as one int64 0/1 array `[agents, 6]`, a row per agent: the masks
        the players' valid action sets select (`_lean_env_class`). Joined by `np.array`, not by indexing
        the table with the list: that copy briefly releases the GIL, which, once a step, kept a torch side
        thread from taking it (a tiny op took 31-34 ms instead of under 0.11 beside an env loop, at a 0.1 ms switch interval)."""
        if self._avail is None:
            self._avail = np.array([_MASKS[b] for b in self._u.valid_action_bits])
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

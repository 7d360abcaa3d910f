"""A small stand-in for SMAC/SMACv2 with the same API, for tests on machines without StarCraft II.

`FakeStarCraft2Env` takes StarCraft2Env's keyword arguments and plays a real (tiny) battle on a line:
allies start at x = 0, enemies at x = 4 (or at the x of the start positions SMACv2's samplers drew). An
attack action hits a living enemy within range; every living enemy then hits the nearest living ally in
range. The battle is won when all enemies are dead, lost when all allies are, and times out at the
episode limit (counted in `timeouts`, like SMAC, which sets `info["episode_limit"]` only with
`continuing_episode=True`). `FakeCapabilityWrapper` mirrors `StarCraftCapabilityEnvWrapper`: samplers
built from `capability_config`, drawing with unseeded numpy Generators and Python's global `random`.

Two things pysc2 does are mimicked: the first reset starts the game binary (and fails with a
`ConnectError` like pysc2's when it does not start), and the first `render()` builds its palette with
`random.shuffle(x, f)`, which Python 3.11 rejects.
"""

from __future__ import annotations

import glob
import os
import random
import subprocess
from typing import Any

import numpy as np

V1_MAPS = {"3m": (3, 3, 60), "8m": (8, 8, 120), "5m_vs_6m": (5, 6, 70)}  # n_agents, n_enemies, limit
HEALTH = {"marine": 45, "marauder": 125, "medivac": 150, "stalker": 160, "zealot": 150, "colossus": 350,
          "zergling": 35, "baneling": 30, "hydralisk": 80}  # fmt: skip
N_NO_ATTACK = 6  # no-op, stop, north, south, east, west
SHOOT_RANGE = 6.0
ALLY_DAMAGE = 9.0
ENEMY_DAMAGE = 3.0


class ConnectError(Exception):
    """Stands in for pysc2's ConnectError (a game that never accepted the connection); the adapter knows
    that by its module and name, so it carries pysc2's."""


ConnectError.__module__ = "pysc2.lib.remote_controller"


def launch_game() -> None:
    """Start the game as pysc2 does for SMAC's first reset: run the newest $SC2PATH/Versions/Base*/SC2_x64.
    pysc2 fails with ConnectError when that process exits instead of listening; here a binary that exits
    non-zero stands for that, and one that exits 0 for a game that started."""
    root = os.path.expanduser(os.environ.get("SC2PATH", "~/StarCraftII"))
    binaries = sorted(glob.glob(os.path.join(root, "Versions", "Base*", "SC2_x64")))
    args = [binaries[-1], "-listen", "127.0.0.1", "-port", "15000", "-dataDir", root + "/"] if binaries else []
    if not args or subprocess.run(args, capture_output=True).returncode != 0:
        raise ConnectError("Failed to connect to the SC2 websocket. Is it up?")


def fixed_palette() -> list[int]:
    """pysc2's colors.shuffled_hue: a fixed shuffle, with the `random` argument Python 3.11 removed."""
    palette = list(range(8))
    random.shuffle(palette, lambda: 0.5)  # type: ignore[call-arg]
    return palette


class FakeStarCraft2Env:
    def __init__(
        self,
        map_name: str = "8m",
        seed: int | None = None,
        capability_config: dict[str, Any] | None = None,
        continuing_episode: bool = False,
        move_amount: float = 2,
        reward_win: float = 200,
        reward_death_value: float = 10,
        reward_scale: bool = True,
        reward_scale_rate: float = 20,
        **kwargs: Any,
    ) -> None:
        self.map_name = map_name
        self._seed = seed
        self.kwargs = kwargs
        if capability_config:
            self.n_agents, self.n_enemies, self.episode_limit = (
                capability_config["n_units"],
                capability_config["n_enemies"],
                200,
            )
        else:
            self.n_agents, self.n_enemies, self.episode_limit = V1_MAPS[map_name]
        self.n_actions = N_NO_ATTACK + self.n_enemies
        self.continuing_episode = continuing_episode
        self.move_amount = move_amount
        self.reward_win = reward_win
        self.reward_death_value = reward_death_value
        self.reward_scale = reward_scale
        self.reward_scale_rate = reward_scale_rate
        self.battles_won = self.battles_game = self.timeouts = self.force_restarts = 0
        self.replays_saved = 0
        self.launched = False
        self.closed = False
        self.palette: list[int] | None = None
        self.episode_config: dict[str, Any] = {}

    def seed(self) -> int | None:
        return self._seed

    def reset(self, episode_config: dict[str, Any] | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        if not self.launched:
            launch_game()
            self.launched = True
        self.episode_config = episode_config or {}
        teams = self.episode_config.get("team_gen", {})
        self.ally_hp_max = np.array(
            [HEALTH[u] for u in teams.get("ally_team", ["marine"] * self.n_agents)], float
        )
        self.enemy_hp_max = np.array(
            [HEALTH[u] for u in teams.get("enemy_team", ["marine"] * self.n_enemies)], float
        )
        self.ally_hp = self.ally_hp_max.copy()
        self.enemy_hp = self.enemy_hp_max.copy()
        ally_pos = self.episode_config.get("ally_start_positions", {}).get("item")
        enemy_pos = self.episode_config.get("enemy_start_positions", {}).get("item")
        self.ally_x = np.zeros(self.n_agents) if ally_pos is None else np.asarray(ally_pos, float)[:, 0]
        self.enemy_x = (
            np.full(self.n_enemies, 4.0) if enemy_pos is None else np.asarray(enemy_pos, float)[:, 0]
        )
        self.steps = 0
        return self.get_obs(), self.get_state()

    def _in_range(self, a: int, e: int) -> bool:
        return abs(self.ally_x[a] - self.enemy_x[e]) <= SHOOT_RANGE

    def step(self, actions: list[int]) -> tuple[float, bool, dict[str, Any]]:
        avail = self.get_avail_actions()
        dealt = 0.0
        enemy_alive_before = self.enemy_hp > 0
        for a, action in enumerate(actions):
            assert avail[a][action] == 1, f"Agent {a} cannot perform action {action}"
            if action == 4:
                self.ally_x[a] += self.move_amount
            elif action == 5:
                self.ally_x[a] -= self.move_amount
            elif action >= N_NO_ATTACK:
                e = action - N_NO_ATTACK
                hit = min(ALLY_DAMAGE, self.enemy_hp[e])
                self.enemy_hp[e] -= hit
                dealt += hit
        for e in np.flatnonzero(self.enemy_hp > 0):
            targets = [a for a in np.flatnonzero(self.ally_hp > 0) if self._in_range(a, e)]
            if targets:
                a = min(targets, key=lambda i: abs(self.ally_x[i] - self.enemy_x[e]))
                self.ally_hp[a] = max(0.0, self.ally_hp[a] - ENEMY_DAMAGE)
        self.steps += 1
        kills = int((enemy_alive_before & (self.enemy_hp <= 0)).sum())
        reward = dealt + self.reward_death_value * kills
        info: dict[str, Any] = {"battle_won": False}
        terminated = True
        if not (self.enemy_hp > 0).any():
            self.battles_won += 1
            info["battle_won"] = True
            reward += self.reward_win
        elif (self.ally_hp > 0).any() and self.steps >= self.episode_limit:
            self.timeouts += 1
            if self.continuing_episode:
                info["episode_limit"] = True
        elif (self.ally_hp > 0).any():
            terminated = False
        if terminated:
            self.battles_game += 1
            info["dead_allies"] = int((self.ally_hp <= 0).sum())
            info["dead_enemies"] = int((self.enemy_hp <= 0).sum())
        if self.reward_scale:
            max_reward = self.enemy_hp_max.sum() + self.n_enemies * self.reward_death_value + self.reward_win
            reward /= max_reward / self.reward_scale_rate
        return reward, terminated, info

    def get_obs_agent(self, a: int) -> np.ndarray:
        obs = np.zeros(self.get_obs_size(), dtype=np.float32)
        if self.ally_hp[a] <= 0:
            return obs
        obs[:2] = self.ally_hp[a] / self.ally_hp_max[a], self.ally_x[a] / 10
        for e in range(self.n_enemies):
            if self.enemy_hp[e] > 0:
                i = 2 + 3 * e
                obs[i : i + 3] = (
                    self._in_range(a, e),
                    (self.enemy_x[e] - self.ally_x[a]) / SHOOT_RANGE,
                    self.enemy_hp[e] / self.enemy_hp_max[e],
                )
        others = [b for b in range(self.n_agents) if b != a]
        for k, b in enumerate(others):
            i = 2 + 3 * self.n_enemies + 2 * k
            obs[i : i + 2] = (
                (self.ally_x[b] - self.ally_x[a]) / SHOOT_RANGE,
                self.ally_hp[b] / self.ally_hp_max[b],
            )
        return obs

    def get_obs(self) -> list[np.ndarray]:
        return [self.get_obs_agent(a) for a in range(self.n_agents)]

    def get_obs_size(self) -> int:
        return 2 + 3 * self.n_enemies + 2 * (self.n_agents - 1)

    def get_state(self) -> np.ndarray:
        return np.concatenate(
            [
                self.ally_hp / self.ally_hp_max,
                self.ally_x / 10,
                self.enemy_hp / self.enemy_hp_max,
                self.enemy_x / 10,
            ]
        ).astype(np.float32)

    def get_state_size(self) -> int:
        return 2 * (self.n_agents + self.n_enemies)

    def get_avail_agent_actions(self, a: int) -> list[int]:
        if self.ally_hp[a] <= 0:
            return [1] + [0] * (self.n_actions - 1)
        attacks = [int(self.enemy_hp[e] > 0 and self._in_range(a, e)) for e in range(self.n_enemies)]
        return [0, 1, 1, 1, 1, 1] + attacks

    def get_avail_actions(self) -> list[list[int]]:
        return [self.get_avail_agent_actions(a) for a in range(self.n_agents)]

    def get_total_actions(self) -> int:
        return self.n_actions

    def get_env_info(self) -> dict[str, Any]:
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.n_actions,
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
        }

    def get_stats(self) -> dict[str, Any]:
        return {
            "battles_won": self.battles_won,
            "battles_game": self.battles_game,
            "battles_draw": self.timeouts,
            "win_rate": self.battles_won / self.battles_game,
            "timeouts": self.timeouts,
            "restarts": self.force_restarts,
        }

    def render(self) -> np.ndarray:
        """A 1 x (allies + enemies) "frame" of palette indices (alive units coloured, dead ones 0)."""
        if self.palette is None:
            self.palette = fixed_palette()  # smac's render() imports its renderer (and pysc2's colors) here
        alive = np.concatenate([self.ally_hp > 0, self.enemy_hp > 0])
        return np.array([[self.palette[1 + i % 7] if a else self.palette[0] for i, a in enumerate(alive)]])

    def save_replay(self) -> None:
        self.replays_saved += 1

    def close(self) -> None:
        self.closed = True


class FakeWeightedTeams:
    def __init__(self, config: dict[str, Any]) -> None:
        self.env_key = config["env_key"]
        self.units = list(config["unit_types"])
        self.weights = np.asarray(config["weights"], float)
        self.n_units = config["n_units"]
        self.n_enemies = config["n_enemies"]
        self.rng = np.random.default_rng()

    def _team(self, n: int) -> list[str]:
        team = [str(u) for u in self.rng.choice(self.units, size=n, p=self.weights)]
        random.shuffle(team)
        return team

    def generate(self) -> dict[str, Any]:
        team = self._team(self.n_units)
        enemies = (team + self._team(max(0, self.n_enemies - self.n_units)))[: self.n_enemies]
        return {self.env_key: {"ally_team": team, "enemy_team": enemies, "id": 0}}


class FakeUniformPositions:
    def __init__(self, n: int, high: tuple[float, float]) -> None:
        self.n = n
        self.high = high
        self.rng = np.random.default_rng()

    def generate(self) -> np.ndarray:
        return self.rng.uniform(low=(0.0, 0.0), high=self.high, size=(self.n, 2))


class FakeSurroundedAndReflect:
    """Reflected start positions with probability p, else allies in the centre and enemies around them."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.p = config["p"]
        self.n_enemies = config["n_enemies"]
        self.map_x, self.map_y = config["map_x"], config["map_y"]
        self.reflect_distribution = FakeUniformPositions(config["n_units"], (self.map_x / 2 - 1, self.map_y))
        self.rng = np.random.default_rng()

    def generate(self) -> dict[str, Any]:
        allies = self.reflect_distribution.generate()
        if self.rng.random() <= self.p:
            enemies = np.resize(
                np.column_stack([self.map_x - allies[:, 0], allies[:, 1]]), (self.n_enemies, 2)
            )
        else:
            allies = np.tile([self.map_x / 2, self.map_y / 2], (len(allies), 1))
            enemies = self.rng.uniform(0, self.map_x, size=(self.n_enemies, 2))
        return {
            "ally_start_positions": {"item": allies, "id": 0},
            "enemy_start_positions": {"item": enemies, "id": 0},
        }


DISTRIBUTIONS = {"weighted_teams": FakeWeightedTeams, "surrounded_and_reflect": FakeSurroundedAndReflect}


class FakeCapabilityWrapper:
    def __init__(self, **kwargs: Any) -> None:
        config = kwargs["capability_config"]
        self.env_key_to_distribution_map: dict[str, Any] = {}
        for key, block in config.items():
            if key in ("n_units", "n_enemies"):
                continue
            block.update(env_key=key, n_units=config["n_units"], n_enemies=config["n_enemies"])
            self.env_key_to_distribution_map[key] = DISTRIBUTIONS[block["dist_type"]](block)
        self.env = FakeStarCraft2Env(**kwargs)

    def reset(self) -> tuple[list[np.ndarray], np.ndarray]:
        episode_config: dict[str, Any] = {}
        for sampler in self.env_key_to_distribution_map.values():
            episode_config.update(sampler.generate())
        return self.env.reset(episode_config)

    def __getattr__(self, name: str) -> Any:
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

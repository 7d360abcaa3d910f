"""LBFEnv: shapes, masks, episode ends, rewards, seeding, state types and user-facing errors."""

from __future__ import annotations

import sys
from collections import deque
from itertools import permutations

import numpy as np
import pytest

from envs.lbf import LBFEnv
from utils.errors import ConfigError, MissingDependencyError

MOVES = {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}


def _first_move(field: np.ndarray, start: tuple[int, int], goal: tuple[int, int], blocked: set) -> int:
    """The action of a shortest path from start to goal around food and `blocked` cells (0 if none)."""
    rows, cols = field.shape
    first = {start: 0}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            return first[cell]
        for action, (dy, dx) in MOVES.items():
            nxt = (cell[0] + dy, cell[1] + dx)
            if not (0 <= nxt[0] < rows and 0 <= nxt[1] < cols) or nxt in first:
                continue
            if field[nxt] > 0 or nxt in blocked:
                continue
            first[nxt] = first[cell] or action
            queue.append(nxt)
    return 0


def _team_actions(env: LBFEnv) -> list[int]:
    """All agents gather around the first food left and load it together (enough level in non-coop tasks)."""
    u = env.unwrapped
    food = tuple(np.argwhere(u.field > 0)[0])
    spots = [(food[0] + dy, food[1] + dx) for dy, dx in MOVES.values()]
    positions = [tuple(p.position) for p in u.players]
    goals = min(
        permutations(spots, len(positions)),
        key=lambda gs: sum(abs(g[0] - q[0]) + abs(g[1] - q[1]) for g, q in zip(gs, positions)),
    )
    if list(goals) == positions:
        return [5] * len(positions)
    moves, claimed = [], set()
    for i, (pos, goal) in enumerate(zip(positions, goals)):
        others = set(positions[:i] + positions[i + 1 :])
        move = 0 if pos == goal else _first_move(u.field, pos, goal, others)
        nxt = (pos[0] + MOVES[move][0], pos[1] + MOVES[move][1]) if move else pos
        if nxt in claimed:  # two agents entering one cell would both stay: the later one waits
            move, nxt = 0, pos
        claimed.add(nxt)
        moves.append(move)
    return moves


def _random_actions(env: LBFEnv, rng: np.random.Generator) -> list[int]:
    return [int(rng.choice(np.flatnonzero(m))) for m in env.get_avail_actions()]


@pytest.mark.parametrize(
    ("key", "kwargs", "n_agents", "obs"),
    [
        ("Foraging-8x8-2p-3f-v3", {}, 2, 15),
        ("Foraging-10x10-3p-3f-v3", {}, 3, 18),
        ("Foraging-10x10-3p-4f-v3", {"max_num_food": 5}, 3, 24),
    ],
)
def test_shapes(key: str, kwargs: dict, n_agents: int, obs: int) -> None:
    env = LBFEnv(key, seed=0, **kwargs)
    env.reset()
    info = env.get_env_info()
    assert info == {
        "state_shape": n_agents * obs,
        "obs_shape": obs,
        "n_actions": 6,
        "n_agents": n_agents,
        "episode_limit": 50,
    }
    # one array each, a row per agent, so the env groups stack nothing
    assert env.get_obs().shape == (n_agents, obs) and env.get_obs().dtype == np.float32
    assert env.get_state().shape == (n_agents * obs,) and env.get_state().dtype == np.float32
    assert env.get_avail_actions().shape == (n_agents, 6) and env.get_avail_actions().dtype == np.int64
    reward, terminated, step_info = env.step(np.zeros(n_agents, dtype=np.int64))
    assert isinstance(reward, float) and isinstance(terminated, bool)
    assert step_info == {"episode_limit": False}
    env.close()


def test_avail_actions_match_the_grid() -> None:
    env = LBFEnv("Foraging-8x8-2p-3f-v3", seed=1)
    rng = np.random.default_rng(0)
    seen_wall = seen_load = 0
    for _ in range(5):
        env.reset()
        terminated = False
        while not terminated:
            field = env.unwrapped.field
            rows, cols = field.shape
            for p, mask in zip(env.unwrapped.players, env.get_avail_actions()):
                y, x = p.position
                assert mask.dtype.kind == "i" and set(mask.tolist()) <= {0, 1}
                assert mask[0] == 1
                # the mask is the action list lbforaging's own step checks actions against
                assert mask.tolist() == [int(a in {v.value for v in env.unwrapped._valid_actions[p]}) for a in range(6)]
                for action, (dy, dx) in MOVES.items():
                    inside = 0 <= y + dy < rows and 0 <= x + dx < cols
                    assert mask[action] == int(inside and field[y + dy, x + dx] == 0)
                    seen_wall += not inside
                next_to_food = any(
                    0 <= y + dy < rows and 0 <= x + dx < cols and field[y + dy, x + dx] > 0
                    for dy, dx in MOVES.values()
                )
                assert mask[5] == int(next_to_food)
                seen_load += next_to_food
            _, terminated, _ = env.step(_random_actions(env, rng))
    assert seen_wall > 0 and seen_load > 0


def test_time_out_sets_episode_limit() -> None:
    env = LBFEnv("Foraging-8x8-2p-3f-v3", seed=0)
    env.reset()
    for t in range(1, 51):
        reward, terminated, info = env.step([0, 0])
        assert reward == 0.0
        assert terminated == (t == 50) and info["episode_limit"] == (t == 50)


def test_time_limit_changes_the_env_limit() -> None:
    env = LBFEnv("Foraging-8x8-2p-3f-v3", seed=0, time_limit=7)
    assert env.get_env_info()["episode_limit"] == 7
    env.reset()
    results = [env.step([0, 0]) for _ in range(7)]
    assert [r[1] for r in results] == [False] * 6 + [True]
    assert results[-1][2]["episode_limit"] is True
    env.reset()
    assert env.step([0, 0])[1] is False


@pytest.mark.parametrize("key", ["Foraging-5x5-2p-1f-v3", "Foraging-8x8-2p-3f-v3", "Foraging-10x10-3p-3f-v3"])
def test_eating_all_food_ends_without_limit_and_returns_one(key: str) -> None:
    env = LBFEnv(key, seed=3, time_limit=200)
    for _ in range(3):
        env.reset()
        total, terminated, steps, info = 0.0, False, 0, {}
        while not terminated:
            reward, terminated, info = env.step(_team_actions(env))
            total += reward
            steps += 1
        assert steps < 200
        assert info["episode_limit"] is False
        assert not env.unwrapped.field.any()
        assert total == pytest.approx(1.0)


def test_eating_the_last_food_on_the_last_step_is_not_a_time_out() -> None:
    def scripted_episode(time_limit: int) -> tuple[int, dict]:
        env = LBFEnv("Foraging-5x5-2p-1f-v3", seed=4, time_limit=time_limit)
        env.reset()
        steps, terminated, info = 0, False, {}
        while not terminated:
            _, terminated, info = env.step(_team_actions(env))
            steps += 1
        return steps, info

    steps, _ = scripted_episode(100)
    assert steps > 1
    assert scripted_episode(steps) == (steps, {"episode_limit": False})
    assert scripted_episode(steps - 1) == (steps - 1, {"episode_limit": True})


def _rollout(env: LBFEnv, episodes: int, action_seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(action_seed)
    trace = []
    for _ in range(episodes):
        env.reset()
        trace.append(np.concatenate(env.get_obs()))
        terminated = False
        while not terminated:
            _, terminated, _ = env.step(rng.integers(0, 6, size=env.n_agents))
            trace.append(np.concatenate(env.get_obs()))
    return trace


def test_same_seed_same_episodes() -> None:
    a = _rollout(LBFEnv(seed=11), 3)
    b = _rollout(LBFEnv(seed=11), 3)
    assert len(a) == len(b)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_different_seeds_differ() -> None:
    a = _rollout(LBFEnv(seed=0), 1)
    b = _rollout(LBFEnv(seed=1), 1)
    assert not np.array_equal(a[0], b[0])


def test_episodes_of_one_env_differ_and_reseeding_a_used_env_reproduces() -> None:
    env = LBFEnv(seed=5)
    episodes = []
    for _ in range(3):
        env.reset()
        episodes.append(np.concatenate(env.get_obs()))
    assert not all(np.array_equal(episodes[0], e) for e in episodes[1:])
    _rollout(env, 2)
    env.seed(5)
    assert np.array_equal(_rollout(env, 1)[0], episodes[0])


def test_state_types() -> None:
    env = LBFEnv("Foraging-2s-8x8-2p-3f-v3", seed=0, state_type="full")
    assert env.get_env_info()["state_shape"] == 3 * 3 + 3 * 2
    env.reset()
    u = env.unwrapped
    foods = np.argwhere(u.field > 0)
    state = env.get_state()
    assert state.shape == (15,) and state.dtype == np.float32
    assert np.all((state >= -1) & (state <= 1))
    players = state[9:].reshape(2, 3)
    for p, row in zip(u.players, players):
        assert np.allclose(row[:2], np.array(p.position) / 7)
        assert row[2] == pytest.approx(p.level / 2)
    assert np.allclose(state[: 3 * len(foods)].reshape(-1, 3)[:, :2], foods / 7)
    env.step([0, 0])
    assert env.get_state().shape == (15,)

    concat = LBFEnv("Foraging-10x10-3p-3f-v3", seed=0, state_type="concat")
    concat.reset()
    assert concat.get_state().shape == (54,)
    assert np.array_equal(concat.get_state(), np.concatenate(concat.get_obs()))


def _state_from_field(env: LBFEnv, foods: np.ndarray, presence: bool) -> np.ndarray:
    """The full state computed in numpy from lbforaging's field and players (reset's food slots `foods`)."""
    u = env.unwrapped
    scale = np.array(u.field_size, dtype=np.float64) - 1
    width = 4 if presence else 3
    state = np.zeros((env.get_env_info()["state_shape"] // width, width))
    if not presence:
        state[: env._n_food, :2] = -1.0
    levels = u.field[foods[:, 0], foods[:, 1]]
    left = levels > 0
    state[: len(foods)][left, :2] = foods[left] / scale
    state[: len(foods), 2] = levels / u.observation_space[0].high[2]
    players = state[env._n_food :]
    players[:, :2] = np.array([p.position for p in u.players]) / scale
    players[:, 2] = np.array([p.level for p in u.players]) / max(u.max_player_level)
    if presence:
        state[: len(foods), 3] = left
        players[:, 3] = 1.0
    return state.reshape(-1).astype(np.float32)


@pytest.mark.parametrize("encoding", ["sentinel", "presence"])
def test_full_state_follows_the_field_as_food_is_eaten(encoding: str) -> None:
    env = LBFEnv("Foraging-8x8-2p-3f-v3", seed=2, state_type="full", obs_encoding=encoding, time_limit=400)
    env.reset()
    foods = np.argwhere(env.unwrapped.field > 0)
    terminated, eaten = False, 0
    while not terminated:
        assert np.array_equal(env.get_state(), _state_from_field(env, foods, encoding == "presence"))
        _, terminated, _ = env.step(_team_actions(env))
        eaten = max(eaten, len(foods) - int((env.unwrapped.field > 0).sum()))
    assert eaten >= 1  # the episode covered eaten food


def test_full_state_marks_eaten_food() -> None:
    env = LBFEnv("Foraging-5x5-2p-1f-v3", seed=3, state_type="full", time_limit=200)
    env.reset()
    terminated = False
    while not terminated:
        _, terminated, _ = env.step(_team_actions(env))
    assert np.array_equal(env.get_state()[:3], [-1.0, -1.0, 0.0])


def test_unknown_key_suggests_closest() -> None:
    with pytest.raises(ConfigError) as err:
        LBFEnv("Foraging-8x8-2p-3f-v2")
    assert "'Foraging-8x8-2p-3f-v3'" in str(err.value)
    assert "Foraging{-2s}-{S}x{S}-{P}p-{F}f{-coop}-v3" in str(err.value)
    with pytest.raises(ConfigError, match=r"'Foraging-10x10-3p-4f-v3' with max_num_food=5"):
        LBFEnv("Foraging-10x10-3p-5f-v3")
    with pytest.raises(ConfigError, match=r"Closest: 'Foraging-2s-8x8-2p-3f-coop-v3'"):
        LBFEnv("Foraging-8x8-2p-3f-coop-2s-v3")


def test_bad_kwargs() -> None:
    with pytest.raises(ConfigError, match="'sigth'.*Accepted:.*sight"):
        LBFEnv(sigth=2)
    with pytest.raises(ConfigError, match="time_limit"):
        LBFEnv(max_episode_steps=10)
    with pytest.raises(ConfigError, match="state_type"):
        LBFEnv(state_type="global")


def test_missing_lbforaging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lbforaging", None)
    with pytest.raises(MissingDependencyError, match="pip install lbforaging"):
        LBFEnv()


def test_render_rgb() -> None:
    env = LBFEnv(seed=0)
    env.reset()
    try:
        frame = env.render()
    except MissingDependencyError as e:
        pytest.skip(str(e))
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    env.close()


@pytest.mark.parametrize(("key", "kwargs"), [("Foraging-2s-8x8-2p-3f-v3", {}), ("Foraging-2s-10x10-3p-4f-v3", {}),
                                           ("Foraging-2s-8x8-3p-3f-v3", {"observe_agent_levels": False})])
def test_normalised_observations_are_the_float32_quotients_and_keep_unseen_sentinel(key: str, kwargs: dict) -> None:
    """After every reset and step of random episodes, the normalised vectors equal, bitwise, lbforaging's own
    divided in float32 by the observation space's maxima (at least 1), with unseen entries kept at -1."""
    raw = LBFEnv(key=key, seed=4, **kwargs)
    norm = LBFEnv(key=key, seed=4, normalise_obs=True, **kwargs)
    high = np.maximum(raw.unwrapped.observation_space[0].high.astype(np.float32), np.float32(1))
    rng = np.random.default_rng(2)
    steps = 0
    for _ in range(3):
        raw.reset()
        norm.reset()
        terminated = False
        while True:
            for r, n in zip(raw.get_obs(), norm.get_obs(), strict=True):
                assert n.dtype == np.float32 and n.max() <= 1.0
                assert np.array_equal(n, np.where(r < 0, np.float32(-1), r / high).astype(np.float32))
            if terminated:
                break
            actions = rng.integers(0, 6, size=raw.n_agents).tolist()
            _, terminated, _ = raw.step(actions)
            norm.step(actions)
            steps += 1
    assert steps > 50


def _present(slots: np.ndarray) -> list[tuple[float, ...]]:
    """The presence slots (last column the presence bit) that are present, without the bit, sorted."""
    return sorted(tuple(row[:-1]) for row in slots[slots[:, -1] == 1])


def _shown(values: np.ndarray, width: int) -> list[tuple[float, ...]]:
    """lbforaging's entries (`width` numbers each) that are not the unseen sentinel (-1, -1, ...), sorted."""
    rows = values.reshape(-1, width)
    return sorted(tuple(row) for row in rows[rows[:, 0] >= 0])


PRESENCE_CASES = [
    ("Foraging-8x8-2p-3f-v3", {}),
    ("Foraging-2s-8x8-2p-3f-v3", {}),
    ("Foraging-2s-10x10-3p-4f-v3", {}),
    ("Foraging-2s-8x8-3p-3f-v3", {"observe_agent_levels": False}),
    ("Foraging-5x5-2p-1f-v3", {}),
]


@pytest.mark.parametrize(("key", "kwargs"), PRESENCE_CASES)
def test_sentinel_observations_are_lbforagings_own_vectors(key: str, kwargs: dict) -> None:
    """The adapter builds the sentinel vectors itself (lbforaging's `_make_gym_obs` is skipped for speed):
    after every reset and step of random episodes they equal, number for number, what lbforaging's own
    method builds from the same field and players."""
    from lbforaging.foraging import ForagingEnv

    env = LBFEnv(key, seed=5, **kwargs)
    rng = np.random.default_rng(3)
    steps = partly_seen = 0
    for _ in range(6):
        env.reset()
        terminated = False
        while True:
            own = ForagingEnv._make_gym_obs(env.unwrapped)
            for ours, theirs in zip(env.get_obs(), own, strict=True):
                assert ours.dtype == np.float32 and np.array_equal(ours, theirs)
            partly_seen += any(bool((o == -1).any()) for o in own)
            if terminated:
                break
            _, terminated, _ = env.step(_random_actions(env, rng))
            steps += 1
    assert steps > 100 and partly_seen > 0


@pytest.mark.parametrize(("key", "kwargs"), PRESENCE_CASES)
def test_valid_actions_are_lbforagings_own(key: str, kwargs: dict) -> None:
    """The env's valid-action lists (generated by the adapter's own `_gen_valid_moves`) equal, list for list
    and in order, what lbforaging's method generates from the same field and players, after every reset
    and step of episodes with uniformly random actions (invalid ones included); positions and levels are
    Python ints throughout."""
    from lbforaging.foraging import ForagingEnv

    env = LBFEnv(key, seed=7, **kwargs)
    u = env.unwrapped
    rng = np.random.default_rng(4)
    steps, seen = 0, set()
    for _ in range(8):
        env.reset()
        terminated = False
        while not terminated:
            ours = {player: list(actions) for player, actions in u._valid_actions.items()}
            ForagingEnv._gen_valid_moves(u)
            assert ours == u._valid_actions
            # kept as Python ints from the spawn on (numpy ints make every step's arithmetic slower)
            assert all(type(v) is int for p in u.players for v in (*p.position, p.level))
            seen.update(len(actions) for actions in ours.values())
            _, terminated, _ = env.step(rng.integers(0, 6, size=env.n_agents).tolist())
            steps += 1
    assert steps > 100 and len(seen) >= 3  # players with few and many valid actions


@pytest.mark.parametrize(("key", "kwargs"), PRESENCE_CASES)
def test_presence_lists_exactly_the_entities_lbforaging_shows(key: str, kwargs: dict) -> None:
    """Twin envs, one seed, same actions: each agent's present (y, x, level) triples (unscaled) are the
    non-sentinel triples of lbforaging's own observation, self first in both."""
    sentinel = LBFEnv(key, seed=2, **kwargs)
    presence = LBFEnv(key, seed=2, obs_encoding="presence", **kwargs)
    n_food, levels = sentinel.unwrapped.max_num_food, kwargs.get("observe_agent_levels", True)
    width = 3 if levels else 2
    rng = np.random.default_rng(0)
    steps = partly_seen = eaten = 0
    for _ in range(6):
        sentinel.reset()
        presence.reset()
        n_spawned = np.count_nonzero(presence.unwrapped.field)
        terminated = False
        while True:
            for s, p in zip(sentinel.get_obs(), presence.get_obs()):
                s_food, s_players = s[: 3 * n_food], s[3 * n_food :]
                p_food, p_players = p[: 4 * n_food].reshape(-1, 4), p[4 * n_food :].reshape(-1, width + 1)
                assert set(p_food[:, 3]) <= {0.0, 1.0} and set(p_players[:, -1]) <= {0.0, 1.0}
                assert _present(p_food) == _shown(s_food, 3)
                assert _present(p_players) == _shown(s_players, width)
                assert p_players[0, -1] == 1 and np.array_equal(p_players[0, :-1], s_players[:width])
                assert not p_food[p_food[:, 3] == 0].any() and not p_players[p_players[:, -1] == 0].any()
                partly_seen += 0 < p_players[:, -1].sum() < len(p_players)
            eaten += np.count_nonzero(presence.unwrapped.field) < n_spawned
            if terminated:
                break
            actions = _random_actions(sentinel, rng)
            _, terminated, _ = sentinel.step(actions)
            assert presence.step(actions)[1] == terminated
            steps += 1
    assert steps > 100 and eaten > 0  # states after a food was eaten were compared too
    if "-2s" in key:  # the limited sight hides agents at times
        assert partly_seen > 0


@pytest.mark.parametrize(("key", "kwargs"), PRESENCE_CASES)
def test_presence_food_slots_are_fixed_and_zero_once_eaten(key: str, kwargs: dict) -> None:
    """A present food slot always holds its reset food (global position = local + window origin); once
    eaten it is all zeros, in every agent's observation and in the full state, for the rest of the episode."""
    env = LBFEnv(key, seed=5, obs_encoding="presence", state_type="full", time_limit=200, **kwargs)
    u = env.unwrapped
    n_food, sight = u.max_num_food, u.sight
    rows = u.field.shape[0]
    eaten_slots = 0
    for _ in range(3):
        env.reset()
        foods = np.argwhere(u.field > 0)
        food_levels = u.field[foods[:, 0], foods[:, 1]].copy()
        gone: set[int] = set()
        terminated = False
        while True:
            left = u.field[foods[:, 0], foods[:, 1]] > 0
            assert not any(left[k] for k in gone)  # food never comes back
            gone |= set(np.flatnonzero(~left).tolist())
            state = env.get_state().reshape(-1, 4)
            assert np.array_equal(state[: len(foods), 3], left.astype(np.float32))
            assert not state[: len(foods)][~left].any() and not state[len(foods) : n_food].any()
            assert np.allclose(state[: len(foods)][left, :2], foods[left] / (rows - 1))
            for player, o in zip(u.players, env.get_obs()):
                slots = o[: 4 * n_food].reshape(-1, 4)
                assert not slots[len(foods) :].any()
                origin = np.maximum(np.array(player.position) - sight, 0)
                for k in np.flatnonzero(slots[: len(foods), 3]):
                    assert left[k]
                    assert np.array_equal(slots[k, :2] + origin, foods[k]) and slots[k, 2] == food_levels[k]
                assert not slots[list(gone)].any()
            if terminated:
                break
            _, terminated, _ = env.step(_team_actions(env))
        eaten_slots += len(gone)
    assert eaten_slots >= 3


@pytest.mark.parametrize(("key", "kwargs"), PRESENCE_CASES)
def test_normalised_presence_is_raw_presence_scaled_into_unit_range(key: str, kwargs: dict) -> None:
    raw = LBFEnv(key, seed=7, obs_encoding="presence", **kwargs)
    norm = LBFEnv(key, seed=7, obs_encoding="presence", normalise_obs=True, **kwargs)
    u = raw.unwrapped
    n_food, rows = u.max_num_food, u.field.shape[0]
    width = 4 if kwargs.get("observe_agent_levels", True) else 3
    food_scale = np.array([rows - 1, rows - 1, u.observation_space[0].high[2], 1.0])
    player_scale = np.array([rows - 1, rows - 1, *([max(u.max_player_level)] if width == 4 else []), 1.0])
    rng = np.random.default_rng(1)
    for _ in range(3):
        raw.reset()
        norm.reset()
        terminated = False
        while not terminated:
            for r, n in zip(raw.get_obs(), norm.get_obs()):
                assert n.dtype == np.float32 and n.min() >= 0.0 and n.max() <= 1.0
                assert np.allclose(n[: 4 * n_food].reshape(-1, 4) * food_scale, r[: 4 * n_food].reshape(-1, 4))
                assert np.allclose(n[4 * n_food :].reshape(-1, width) * player_scale, r[4 * n_food :].reshape(-1, width))
            actions = _random_actions(raw, rng)
            raw.step(actions)
            _, terminated, _ = norm.step(actions)


@pytest.mark.parametrize(
    ("key", "kwargs", "n_agents", "obs", "full"),
    [
        ("Foraging-8x8-2p-3f-v3", {}, 2, 4 * 3 + 4 * 2, 4 * 5),
        ("Foraging-10x10-3p-3f-v3", {}, 3, 4 * 3 + 4 * 3, 4 * 6),
        ("Foraging-10x10-3p-4f-v3", {"max_num_food": 5}, 3, 4 * 5 + 4 * 3, 4 * 8),
        ("Foraging-2s-8x8-3p-3f-v3", {"observe_agent_levels": False}, 3, 4 * 3 + 3 * 3, 4 * 6),
    ],
)
def test_presence_sizes(key: str, kwargs: dict, n_agents: int, obs: int, full: int) -> None:
    for state_type, state in (("concat", n_agents * obs), ("full", full)):
        env = LBFEnv(key, seed=0, obs_encoding="presence", state_type=state_type, **kwargs)
        assert env.get_obs_size() == obs and env.get_state_size() == state
        env.reset()
        env.step([0] * n_agents)
        assert all(o.shape == (obs,) and o.dtype == np.float32 for o in env.get_obs())
        assert env.get_state().shape == (state,) and env.get_state().dtype == np.float32
        if state_type == "concat":
            assert np.array_equal(env.get_state(), np.concatenate(env.get_obs()))
        else:  # agents are always present in the full state
            assert np.all(env.get_state().reshape(-1, 4)[-n_agents:, 3] == 1)


def test_bad_obs_encoding_names_the_value_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"obs_encoding='onehot'.*sentinel, presence"):
        LBFEnv(obs_encoding="onehot")

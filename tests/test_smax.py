"""SMAXEnv (JaxMARL SMAX): shapes, masks, wins, time-outs, seeding, one compilation, the missing extra, and
qmix/salemb smoke runs on 3m. Tests that step SMAX skip when jaxmarl is not installed (requirements-smax.txt)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import main
from envs.smax import SMAXEnv
from utils.errors import ConfigError, MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]
STOP, EAST, WEST, FIRST_ATTACK = 4, 1, 3, 5
FEATURES = 13  # per other unit in a unit_list observation: 7 + 6 unit-type bits
MARINE_SIGHT, MARINE_RANGE = 9.0, 5.0

needs_jaxmarl = pytest.mark.usefixtures("jaxmarl")


@pytest.fixture(scope="module")
def jaxmarl() -> Any:
    return pytest.importorskip("jaxmarl")


def other_units(env: SMAXEnv, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(allies, enemies) feature rows of one agent's observation, other allies first."""
    rows = obs[: (env.n_agents - 1 + env.n_enemies) * FEATURES].reshape(-1, FEATURES)
    return rows[: env.n_agents - 1], rows[env.n_agents - 1 :]


def focus_fire(env: SMAXEnv) -> list[int]:
    """Shoot the weakest enemy in range; otherwise advance east, but wait for allies lagging behind."""
    actions = []
    for obs, avail in zip(env.get_obs(), env.get_avail_actions()):
        targets = np.flatnonzero(avail[FIRST_ATTACK:])
        allies, enemies = other_units(env, obs)
        behind = allies[allies[:, 0] > 0, 1] * MARINE_SIGHT < -0.25
        if len(targets):
            actions.append(FIRST_ATTACK + int(targets[np.argmin(enemies[targets, 0])]))
        elif not avail[EAST] or behind.any():
            actions.append(STOP)
        else:
            actions.append(EAST)
    return actions


def play(env: SMAXEnv, policy: Any) -> tuple[list[float], list[bool], dict[str, Any]]:
    """One episode: (rewards, terminated flags, final info)."""
    env.reset()
    rewards, terminals = [], []
    while True:
        reward, terminated, info = env.step(np.array(policy(env)))
        rewards.append(reward)
        terminals.append(terminated)
        if terminated:
            return rewards, terminals, info


def random_policy(rng: np.random.Generator) -> Any:
    return lambda env: [int(rng.choice(np.flatnonzero(a))) for a in env.get_avail_actions()]


@needs_jaxmarl
@pytest.mark.parametrize(
    "map_name, n_agents, obs_size, n_actions, state_size, limit",
    [("3m", 3, 75, 8, 72, 60), ("smacv2_5_units", 5, 127, 10, 120, 200)],
)
def test_arrays_match_env_info_and_are_normalised(map_name, n_agents, obs_size, n_actions, state_size, limit):
    env = SMAXEnv(map_name, seed=0)
    info = env.get_env_info()
    assert info == {"state_shape": state_size, "obs_shape": obs_size, "n_actions": n_actions,
                    "n_agents": n_agents, "episode_limit": limit}  # fmt: skip
    rng = np.random.default_rng(0)
    env.reset()
    for _ in range(20):
        obs, state, avail = np.array(env.get_obs()), env.get_state(), np.array(env.get_avail_actions())
        assert obs.shape == (n_agents, obs_size) and obs.dtype == np.float32
        assert state.shape == (state_size,) and state.dtype == np.float32
        assert avail.shape == (n_agents, n_actions) and avail.dtype == np.int64
        assert -1 <= obs.min() and obs.max() <= 1
        assert 0 <= state.min() and state.max() <= 1
        assert set(np.unique(avail)) <= {0, 1} and avail[:, STOP].all()
        if env.step(np.array(random_policy(rng)(env)))[1]:
            env.reset()


@needs_jaxmarl
def test_env_info_of_other_maps_without_compiling():
    # (n_agents, obs, n_actions, state) of SMAX's unit_list observations; limits are SMAC's.
    expected = {"2s3z": (5, 127, 10, 120, 120), "5m_vs_6m": (5, 140, 11, 132, 70), "8m": (8, 205, 13, 192, 120)}
    for name, (n, obs, actions, state, limit) in expected.items():
        info = SMAXEnv(name).get_env_info()
        assert (info["n_agents"], info["obs_shape"], info["n_actions"], info["state_shape"]) == (n, obs, actions, state)
        assert info["episode_limit"] == limit


@needs_jaxmarl
def test_packed_outputs_equal_smaxs_own_arrays_in_their_dtypes():
    """reset and step send their outputs as one packed vector; unpacked, they are SMAX's own obs and masks
    of the same state, with the adapter's dtypes."""
    env = SMAXEnv("2s3z", seed=5)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(40):
        smax, state = env._env, env._state
        assert np.array_equal(np.stack(env.get_obs()), np.stack([np.asarray(smax.get_obs(state)[a]) for a in smax.agents]))
        avail = np.stack([np.asarray(smax.get_avail_actions(state)[a]) for a in smax.agents])
        assert np.array_equal(np.stack(env.get_avail_actions()), avail)
        assert env.get_obs()[0].dtype == env.get_state().dtype == np.float32 and env.get_avail_actions()[0].dtype == np.int64
        reward, terminated, info = env.step((rng.random(avail.shape) * avail).argmax(1))
        assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(info["dead_allies"], int)
        assert info["dead_allies"] == int((~np.asarray(env._state.state.unit_alive[: env.n_agents])).sum())
        if terminated:
            env.reset()


@needs_jaxmarl
def test_attacks_are_available_exactly_for_living_enemies_in_range():
    env = SMAXEnv("3m", seed=3)
    env.reset()
    start = np.array(env.get_avail_actions())
    assert (start[:, :FIRST_ATTACK] == 1).all() and (start[:, FIRST_ATTACK:] == 0).all()  # teams start apart
    seen_attack = seen_dead = False
    for _ in range(env.episode_limit):
        for obs, avail in zip(env.get_obs(), env.get_avail_actions()):
            if obs[-10] == 0:  # own health: a dead agent can only stop
                assert avail.tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
                seen_dead = True
                continue
            _, enemies = other_units(env, obs)
            distance = np.linalg.norm(enemies[:, 1:3] * MARINE_SIGHT, axis=1)
            in_range = (enemies[:, 0] > 0) & (distance < MARINE_RANGE)
            assert avail[FIRST_ATTACK:].tolist() == in_range.astype(int).tolist()
            seen_attack |= bool(in_range.any())
        if env.step(np.array(focus_fire(env)))[1]:
            break
    assert seen_attack and seen_dead


@needs_jaxmarl
def test_unavailable_or_malformed_actions_are_rejected():
    env = SMAXEnv("3m", seed=0)
    env.reset()
    with pytest.raises(ValueError, match="agent 1 chose action 5, which is not available; available: \\[0, 1, 2, 3, 4\\]"):
        env.step(np.array([STOP, FIRST_ATTACK, STOP]))
    with pytest.raises(ValueError, match="expects 3 integer actions"):
        env.step(np.array([STOP, STOP]))
    with pytest.raises(ValueError, match="not available"):
        env.step(np.array([STOP, STOP, 8]))


@needs_jaxmarl
def test_focus_fire_beats_the_heuristic_enemy_and_wins_are_reported():
    env = SMAXEnv("3m", seed=0)
    wins = 0
    for _ in range(20):
        rewards, terminals, info = play(env, focus_fire)
        assert terminals[-1] and not any(terminals[:-1]) and not info["episode_limit"]
        if info["battle_won"]:
            wins += 1
            assert info["dead_enemies"] == 3 and info["dead_allies"] < 3
            assert rewards[-1] >= 1.0 and sum(rewards) == pytest.approx(2.0, abs=1e-4)  # all damage + the bonus
        else:
            assert info["dead_allies"] == 3 and sum(rewards) <= 1.0 + 1e-4  # a draw kills every enemy too
    assert wins >= 14
    rng = np.random.default_rng(0)
    random_wins = sum(play(env, random_policy(rng))[2]["battle_won"] for _ in range(10))
    assert random_wins <= 1


@needs_jaxmarl
def test_unopposed_focus_fire_always_wins():
    env = SMAXEnv("3m", seed=1, enemy_shoots=False)
    for _ in range(3):
        _, _, info = play(env, focus_fire)
        assert info == {"battle_won": True, "episode_limit": False, "dead_allies": 0, "dead_enemies": 3}


@needs_jaxmarl
@pytest.mark.parametrize("enemy_shoots, time_limit, expected_limit", [(False, None, 60), (True, 7, 7)])
def test_time_out_ends_the_episode_at_the_limit_as_episode_limit(enemy_shoots, time_limit, expected_limit):
    env = SMAXEnv("3m", seed=0, enemy_shoots=enemy_shoots, time_limit=time_limit)
    assert env.get_env_info()["episode_limit"] == expected_limit
    _, terminals, info = play(env, lambda e: [STOP] * e.n_agents)
    assert len(terminals) == expected_limit and terminals[-1]
    assert info["episode_limit"] and not info["battle_won"]
    assert info["dead_allies"] < 3 and info["dead_enemies"] < 3


@needs_jaxmarl
def test_elimination_is_a_loss_not_a_time_out():
    # Marching west into the map edge kills every ally (walls_cause_death) long before the limit.
    env = SMAXEnv("3m", seed=0)
    _, terminals, info = play(env, lambda e: [WEST if a[WEST] else STOP for a in e.get_avail_actions()])
    assert len(terminals) < env.episode_limit
    assert info["dead_allies"] == 3 and not info["battle_won"] and not info["episode_limit"]


def trajectory(env: SMAXEnv, n_steps: int, action_seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(action_seed)
    env.reset()
    out = [env.get_state()]
    for _ in range(n_steps):
        reward, terminated, _ = env.step(np.array(random_policy(rng)(env)))
        out += [env.get_state(), np.array(env.get_obs()), np.array([reward])]
        if terminated:
            env.reset()
            out.append(env.get_state())
    return out


@needs_jaxmarl
def test_seeding_replays_exactly_and_seeds_differ():
    a, b = trajectory(SMAXEnv("3m", seed=5), 80), trajectory(SMAXEnv("3m", seed=5), 80)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    other = trajectory(SMAXEnv("3m", seed=6), 80)
    assert not np.array_equal(a[0], other[0])  # start positions are drawn from the key
    env = SMAXEnv("3m", seed=5)
    env.seed(5)
    assert all(np.array_equal(x, y) for x, y in zip(trajectory(env, 80), a, strict=True))


@needs_jaxmarl
def test_rng_state_restores_the_next_episodes():
    env = SMAXEnv("3m", seed=2)
    trajectory(env, 30)
    saved = env.get_rng_state()
    first = trajectory(env, 40, action_seed=1)
    env.set_rng_state(saved)
    again = trajectory(env, 40, action_seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))


@needs_jaxmarl
def test_reset_and_step_compile_once_for_all_envs_of_a_setting():
    envs = [SMAXEnv("3m", seed=s) for s in (10, 11)]
    for env in envs:
        for _ in range(2):
            play(env, focus_fire)
    reset_fn, step_fn = envs[0].compiled_functions
    assert envs[1].compiled_functions == (reset_fn, step_fn)
    assert reset_fn._cache_size() == 1 and step_fn._cache_size() == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"map_name": "3M"}, "map_name='3M' is not valid. Did you mean '3m'?"),
        ({"map_name": "MMM2"}, "Valid: 3m, 8m"),
        ({"attack_mode": "nearest"}, "attack_mode='nearest' is not valid"),
        ({"time_limit": 0}, "time_limit must be a positive int or null, got 0"),
        ({"difficulty": "7"}, "unknown keys \\['difficulty'\\]"),
    ],
)
def test_bad_env_args_name_the_key_and_the_valid_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SMAXEnv(**kwargs)


@pytest.fixture
def without_jaxmarl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jaxmarl.environments.smax", None)  # makes the import raise ImportError


@pytest.mark.usefixtures("without_jaxmarl")
def test_missing_extra_says_how_to_install_it():
    with pytest.raises(MissingDependencyError) as err:
        SMAXEnv("3m")
    assert "pip install -r requirements-smax.txt && pip install --no-deps jaxmarl==0.2.0" in str(err.value)


@pytest.mark.usefixtures("without_jaxmarl")
def test_env_config_smax_without_the_extra_exits_with_the_install_command(tmp_path, capsys):
    code = main.main(["--config=qmix", "--env-config=smax", "with", "t_max=100", "use_cuda=False",
                      f"local_results_path={tmp_path}"])  # fmt: skip
    assert code == 1
    assert "pip install -r requirements-smax.txt" in capsys.readouterr().err


@needs_jaxmarl
def test_importing_jaxmarl_keeps_the_output_streams_and_prints_nothing():
    # jaxmarl 0.2.0 resets sys.stdout/sys.stderr to the originals while it is imported (that would end
    # sacred's capture of cout.txt) and prints a note; a fresh process shows whether the adapter undoes both.
    code = (
        "import io, sys; from envs.smax import _load_smax; "
        "out, err = io.StringIO(), io.StringIO(); sys.stdout, sys.stderr = out, err; _load_smax(); "
        "kept = sys.stdout is out and sys.stderr is err; sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__; "
        "print(kept, repr(out.getvalue()))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.stdout == "True ''\n", done.stderr


@needs_jaxmarl
@pytest.mark.slow
@pytest.mark.parametrize("alg", ["qmix", "salemb"])
def test_smoke_run_on_3m(run_main, alg):
    config, stats = run_main(alg, "smax", "env_args.map_name=3m", "imagine_start=0", "imagine_gate=False")
    assert config["env_args"]["map_name"] == "3m"
    assert stats["episode"] > 0 and np.isfinite(stats["loss_td"])
    assert 0 <= stats["test_battle_won_mean"] <= 1 and 0 <= stats["test_dead_enemies_mean"] <= 3
    assert 0 < stats["test_ep_length_mean"] <= 60 and 0 <= stats["test_return_mean"] <= 2
    if alg == "salemb":
        assert np.isfinite(stats["wm_loss"]) and "loss_td_imagined" in stats


@needs_jaxmarl
def test_smax_records_a_frame_after_each_reset_and_step():
    from envs.smax_render import TEAM_COLOURS
    from runners.env_group import reset_env, step_env

    env = SMAXEnv(map_name="3m", seed=3)
    env.start_recording()
    reset_env(env)
    for _ in range(4):
        step_env(env, np.full(env.n_agents, STOP))
    frames = env.stop_recording()
    assert len(frames) == 5 and frames[0].shape[2] == 3 and env.recording is None
    colours = {tuple(c) for c in frames[-1].reshape(-1, 3)}
    assert TEAM_COLOURS[0] in colours and TEAM_COLOURS[1] in colours

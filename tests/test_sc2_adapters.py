"""The SMAC (sc2) and SMACv2 (sc2v2) adapters, end to end against the in-repo fake, and their pre-flight."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from envs import REGISTRY, sc2
from envs.sc2 import SC2Env, legacy_shuffle, load_env_class
from envs.sc2v2 import PRESET_DIR, SC2v2Env, scenarios
from fake_smac import FakeCapabilityWrapper, FakeStarCraft2Env
from utils.config_loader import build_config
from utils.errors import ConfigError, MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install_sc2.sh"


def make_sc2(
    root: Path,
    maps: tuple[str, ...] = ("3m", "5m_vs_6m", "32x32_flat"),
    build: str = "Base75689",
    exit_code: int = 0,
) -> None:
    """A StarCraft II folder whose SC2_x64 notes each start in `launches.txt` beside it and exits with
    `exit_code` (0: the fake game starts; otherwise it fails to, as in tests/fake_smac.py)."""
    if build:
        (root / "Versions" / build).mkdir(parents=True)
        binary = root / "Versions" / build / "SC2_x64"
        binary.write_text(f'#!/bin/sh\necho "$@" >> "$(dirname "$0")/launches.txt"\nexit {exit_code}\n')
        binary.chmod(0o755)
    (root / "Maps" / "SMAC_Maps").mkdir(parents=True)
    for m in maps:
        (root / "Maps" / "SMAC_Maps" / f"{m}.SC2Map").touch()


@pytest.fixture
def sc2_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_sc2(tmp_path)
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    return tmp_path


def run_episode(env: Any, policy: Any) -> tuple[list[dict[str, Any]], list[bool]]:
    env.reset()
    infos, terminals = [], []
    while True:
        avail = env.get_avail_actions()
        actions = np.array([policy(a) for a in avail])
        _, terminated, info = env.step(actions)
        infos.append(info)
        terminals.append(terminated)
        if terminated:
            return infos, terminals


def focus_fire(avail: np.ndarray) -> int:
    attacks = np.flatnonzero(avail[6:])
    return 6 + int(attacks[0]) if len(attacks) else (1 if avail[1] else 0)


def retreat(avail: np.ndarray) -> int:
    return 5 if avail[5] else 0


def hold(avail: np.ndarray) -> int:
    return 1 if avail[1] else 0


# --- sc2 (SMAC v1) ---


def test_sc2_shapes_and_avail(sc2_home: Path) -> None:
    env = SC2Env(map_name="5m_vs_6m", seed=3, env_cls=FakeStarCraft2Env, difficulty="7")
    info = env.get_env_info()
    assert info == {"state_shape": 22, "obs_shape": 28, "n_actions": 12, "n_agents": 5, "episode_limit": 70}
    assert (env.n_agents, env.episode_limit) == (5, 70)
    env.reset()
    obs, state, avail = env.get_obs(), env.get_state(), env.get_avail_actions()
    assert len(obs) == 5 and all(o.shape == (28,) and o.dtype == np.float32 for o in obs)
    assert state.shape == (22,) and state.dtype == np.float32
    assert len(avail) == 5 and all(a.dtype == np.int64 and a.shape == (12,) for a in avail)
    # alive: no no-op, stop and moves allowed, all six enemies (x=4) in range of allies at x=0
    np.testing.assert_array_equal(avail[0], [0, 1, 1, 1, 1, 1] + [1] * 6)
    assert env.wrapped_env.kwargs == {"difficulty": "7"} and env.wrapped_env.seed() == 3


def test_sc2_win_sets_battle_won_not_limit(sc2_home: Path) -> None:
    env = SC2Env(map_name="3m", seed=0, env_cls=FakeStarCraft2Env)
    infos, terminals = run_episode(env, focus_fire)
    assert terminals[-1] and not any(terminals[:-1])
    assert infos[-1]["battle_won"] is True and infos[-1]["episode_limit"] is False
    assert all(i == {"battle_won": False, "episode_limit": False} for i in infos[:-1])
    assert len(infos) < env.episode_limit
    stats = env.get_stats()
    assert (stats["battles_won"], stats["battles_game"], stats["win_rate"], stats["timeouts"]) == (
        1,
        1,
        1.0,
        0,
    )


def test_sc2_time_out_is_episode_limit(sc2_home: Path) -> None:
    env = SC2Env(map_name="3m", seed=0, env_cls=FakeStarCraft2Env)
    infos, terminals = run_episode(env, retreat)
    assert len(infos) == env.episode_limit == 60
    assert infos[-1]["episode_limit"] is True and infos[-1]["battle_won"] is False
    assert not any(i["episode_limit"] for i in infos[:-1])
    assert env.get_stats()["timeouts"] == 1


def test_sc2_time_out_with_continuing_episode(sc2_home: Path) -> None:
    env = SC2Env(map_name="3m", env_cls=FakeStarCraft2Env, continuing_episode=True)
    infos, _ = run_episode(env, retreat)
    assert infos[-1]["episode_limit"] is True


def test_sc2_defeat_is_terminal_not_limit(sc2_home: Path) -> None:
    env = SC2Env(map_name="3m", env_cls=FakeStarCraft2Env)
    infos, _ = run_episode(env, hold)
    assert len(infos) < env.episode_limit
    assert infos[-1]["battle_won"] is False and infos[-1]["episode_limit"] is False
    assert infos[-1]["dead_allies"] == 3
    assert env.get_stats()["win_rate"] == 0.0


def test_sc2_stats_before_first_battle_are_empty(sc2_home: Path) -> None:
    env = SC2Env(map_name="3m", env_cls=FakeStarCraft2Env)
    assert env.get_stats() == {}


def test_sc2_seed_rebuilds_and_delegates(sc2_home: Path) -> None:
    env = SC2Env(map_name="3m", seed=1, env_cls=FakeStarCraft2Env)
    first = env.wrapped_env
    env.seed(9)
    assert first.closed and env.wrapped_env is not first and env.wrapped_env.seed() == 9
    env.save_replay()
    assert env.wrapped_env.replays_saved == 1
    env.close()
    assert env.wrapped_env.closed


def test_sc2_rejected_kwarg_is_config_error(sc2_home: Path) -> None:
    def strict(map_name: str, seed: int | None) -> FakeStarCraft2Env:
        return FakeStarCraft2Env(map_name=map_name, seed=seed)

    with pytest.raises(ConfigError, match="difficulty"):
        SC2Env(map_name="3m", env_cls=strict, difficulty="7")


def test_sc2_unknown_map_suggests_closest() -> None:
    with pytest.raises(ConfigError) as err:
        SC2Env(map_name="3mm", env_cls=FakeStarCraft2Env)
    msg = str(err.value)
    assert "Did you mean '3m'?" in msg and "corridor" in msg and "2c_vs_64zg" in msg and "sc2v2" in msg


# --- sc2v2 (SMACv2) ---


def test_scenarios_are_the_18_presets() -> None:
    races, sizes = ("protoss", "terran", "zerg"), ("5_vs_5", "10_vs_10", "20_vs_20", "10_vs_11", "20_vs_23")
    expected = {f"{r}_{s}" for r in races for s in sizes} | {f"{r}_5_vs_5_epo" for r in races}
    assert set(scenarios()) == expected and len(expected) == 18


@pytest.mark.parametrize("name", sorted(os.path.splitext(f)[0] for f in os.listdir(PRESET_DIR)))
def test_every_scenario_builds(sc2_home: Path, name: str) -> None:
    env = SC2v2Env(map_name=name, seed=0, env_cls=FakeCapabilityWrapper)
    n, m = (int(x) for x in name.split("_")[1:4:2])
    race = name.split("_")[0]
    inner = env.wrapped_env.env
    assert inner.map_name == f"10gen_{race}" and (env.n_agents, inner.n_enemies) == (n, m)
    epo = name.endswith("_epo")
    assert inner.kwargs["prob_obs_enemy"] == (0.0 if epo else 1.0) and inner.kwargs["action_mask"] is (
        not epo
    )
    assert inner.kwargs["conic_fov"] is False and inner.kwargs["min_attack_range"] == 2
    env.reset()
    teams = inner.episode_config["team_gen"]
    assert len(teams["ally_team"]) == n and len(teams["enemy_team"]) == m
    assert inner.episode_config["enemy_start_positions"]["item"].shape == (m, 2)


def test_sc2v2_episode_end_to_end(sc2_home: Path) -> None:
    env = SC2v2Env(map_name="terran_5_vs_5", seed=4, env_cls=FakeCapabilityWrapper)
    assert env.get_env_info()["episode_limit"] == 200 and env.get_total_actions() == 11
    infos, terminals = run_episode(env, lambda a: focus_fire(a) if a[6:].any() else (4 if a[4] else 0))
    assert terminals[-1] and "battle_won" in infos[-1] and "episode_limit" in infos[-1]
    assert env.get_stats()["battles_game"] == 1


def test_sc2v2_env_args_merge_over_preset(sc2_home: Path) -> None:
    env = SC2v2Env(
        map_name="zerg_10_vs_11",
        env_cls=FakeCapabilityWrapper,
        capability_config={"n_units": 4, "n_enemies": 6},
        prob_obs_enemy=0.5,
    )
    inner = env.wrapped_env.env
    assert (env.n_agents, inner.n_enemies) == (4, 6) and inner.kwargs["prob_obs_enemy"] == 0.5
    team_gen = env.wrapped_env.env_key_to_distribution_map["team_gen"]
    assert team_gen.units == ["zergling", "baneling", "hydralisk"]


def episode_configs(seed: int | None, n: int = 4) -> list[tuple[list[str], list[float]]]:
    env = SC2v2Env(map_name="protoss_10_vs_11", seed=seed, env_cls=FakeCapabilityWrapper)
    out = []
    for _ in range(n):
        env.reset()
        cfg = env.wrapped_env.episode_config
        positions = np.concatenate(
            [cfg["ally_start_positions"]["item"], cfg["enemy_start_positions"]["item"]]
        )
        out.append((cfg["team_gen"]["ally_team"] + cfg["team_gen"]["enemy_team"], positions.ravel().tolist()))
    return out


def test_sc2v2_seed_reaches_the_samplers(sc2_home: Path) -> None:
    random.seed(123)  # a different global state before each build must not matter
    a = episode_configs(7)
    random.seed(456)
    b = episode_configs(7)
    c = episode_configs(8)
    assert a == b
    assert a != c and [t for t, _ in a] != [t for t, _ in c]


def test_sc2v2_seeded_reset_leaves_global_random_alone(sc2_home: Path) -> None:
    env = SC2v2Env(map_name="protoss_5_vs_5", seed=1, env_cls=FakeCapabilityWrapper)
    random.seed(5)
    expected = random.Random(5).random()
    env.reset()
    assert random.random() == expected


def test_sc2v2_reseeding_rebuilds(sc2_home: Path) -> None:
    env = SC2v2Env(map_name="protoss_5_vs_5", seed=1, env_cls=FakeCapabilityWrapper)
    env.seed(2)
    env.reset()
    other = SC2v2Env(map_name="protoss_5_vs_5", seed=2, env_cls=FakeCapabilityWrapper)
    other.reset()
    assert env.wrapped_env.episode_config["team_gen"] == other.wrapped_env.episode_config["team_gen"]
    assert env.wrapped_env.seed() == 2


def test_sc2v2_unknown_scenario_lists_all() -> None:
    with pytest.raises(ConfigError) as err:
        SC2v2Env(map_name="protoss_5v5", env_cls=FakeCapabilityWrapper)
    msg = str(err.value)
    assert "Did you mean 'protoss_5_vs_5'?" in msg
    assert all(name in msg for name in scenarios())


# --- pre-flight ---


def test_missing_packages_name_the_fix(sc2_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "smac", None)
    monkeypatch.setitem(sys.modules, "smacv2", None)
    with pytest.raises(MissingDependencyError) as err:
        REGISTRY["sc2"](map_name="3m", seed=0)
    msg = str(err.value)
    assert "the Python package `smac` is not installed" in msg and "bash scripts/install_sc2.sh" in msg
    assert "--env-config=lbf" in msg and "--env-config=smax" in msg
    with pytest.raises(MissingDependencyError, match="`smacv2` is not installed"):
        REGISTRY["sc2v2"](map_name="protoss_5_vs_5", seed=0)


def test_missing_binary_names_sc2path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_sc2(tmp_path, build="")
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    with pytest.raises(MissingDependencyError) as err:
        SC2Env(map_name="3m", env_cls=FakeStarCraft2Env)
    msg = str(err.value)
    assert f"no StarCraft II binary under SC2PATH={tmp_path}" in msg and str(tmp_path / "Versions") in msg
    assert "bash scripts/install_sc2.sh" in msg and "export SC2PATH=" in msg and "map file" not in msg


def test_default_sc2path_is_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SC2PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(MissingDependencyError, match=f"SC2PATH={tmp_path / 'StarCraftII'}"):
        SC2Env(map_name="3m", env_cls=FakeStarCraft2Env)


def test_missing_map_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_sc2(tmp_path, maps=("8m",))
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    with pytest.raises(MissingDependencyError) as err:
        SC2Env(map_name="3m", env_cls=FakeStarCraft2Env)
    msg = str(err.value)
    assert str(tmp_path / "Maps" / "SMAC_Maps" / "3m.SC2Map") in msg and "bash scripts/install_sc2.sh" in msg
    assert "binary" not in msg
    with pytest.raises(MissingDependencyError, match="32x32_flat.SC2Map"):
        SC2v2Env(map_name="zerg_5_vs_5", env_cls=FakeCapabilityWrapper)


def test_missing_game_version_names_the_flag(sc2_home: Path) -> None:
    with pytest.raises(MissingDependencyError) as err:
        SC2Env(map_name="3m", env_cls=FakeStarCraft2Env, game_version="4.6.2")
    msg = str(err.value)
    assert "Base69232" in msg and "bash scripts/install_sc2.sh --version 4.6.2" in msg
    assert SC2Env(map_name="3m", env_cls=FakeStarCraft2Env, game_version="4.10").n_agents == 3


# --- package import: smac/smacv2 exclusion, the Python 3.11 fixes ---


@pytest.fixture
def fake_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Importable `smac` and `smacv2` stand-ins (like the real ones, they import without pysc2's shuffle)."""
    for package in ("smac", "smacv2"):
        env_dir = tmp_path / package / "env"
        env_dir.mkdir(parents=True)
        (tmp_path / package / "__init__.py").touch()
        (env_dir / "__init__.py").write_text("class StarCraft2Env:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("smac", "smac.env", "smacv2", "smacv2.env"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sc2, "_imported_package", None)
    monkeypatch.setenv("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "unset-by-test")
    monkeypatch.delenv("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION")
    yield tmp_path
    for name in ("smac", "smac.env", "smacv2", "smacv2.env"):
        sys.modules.pop(name, None)


def test_load_env_class_imports_once_and_excludes_the_other(fake_packages: Path) -> None:
    cls = load_env_class("smac", "StarCraft2Env")
    assert cls.__module__ == "smac.env"
    assert os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] == "python"
    assert load_env_class("smac", "StarCraft2Env") is cls
    with pytest.raises(ConfigError, match="DuplicateMapError") as err:
        load_env_class("smacv2", "StarCraft2Env")
    assert "already imported `smac`" in str(err.value) and "smacv2.env" not in sys.modules


def test_exclusion_from_recorded_smacv2(fake_packages: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc2, "_imported_package", "smacv2")
    with pytest.raises(ConfigError, match="separate processes"):
        load_env_class("smac", "StarCraft2Env")


def test_missing_class_is_reported(fake_packages: Path) -> None:
    with pytest.raises(MissingDependencyError, match="StarCraftCapabilityEnvWrapper"):
        load_env_class("smacv2", "StarCraftCapabilityEnvWrapper")


def test_legacy_shuffle_accepts_a_random_function() -> None:
    def pysc2_style(x: list[int]) -> list[int]:
        random.shuffle(x, random.random)
        return x

    original = random.shuffle
    with legacy_shuffle():
        assert sorted(pysc2_style(list(range(10)))) == list(range(10))
        fixed = list(range(5))
        random.shuffle(fixed, lambda: 0.5)  # the pre-3.11 algorithm: a fixed permutation
        assert fixed == [0, 3, 1, 4, 2]
        plain = list(range(10))
        random.shuffle(plain)
        assert sorted(plain) == list(range(10))
    assert random.shuffle is original
    if sys.version_info >= (3, 11):
        with pytest.raises(TypeError):
            pysc2_style([1, 2, 3])


# --- configs and the install script ---


def test_env_configs() -> None:
    cfg_dir = ROOT / "src" / "config" / "envs"
    v1 = yaml.safe_load((cfg_dir / "sc2.yaml").read_text())
    v2 = yaml.safe_load((cfg_dir / "sc2v2.yaml").read_text())
    assert v1["env"] == "sc2" and v1["env_args"]["map_name"] == "3m" and v1["env_args"]["difficulty"] == "7"
    assert v2["env"] == "sc2v2" and v2["env_args"]["map_name"] == "protoss_5_vs_5"
    for cfg in (v1, v2):
        assert cfg["env_args"]["seed"] is None and cfg["test_nepisode"] == 32
    assert v1["t_max"] == 2050000 and v2["t_max"] == 10050000  # PyMARL's SMAC runs; SMACv2's baselines
    for env in ("sc2", "sc2v2"):
        assert build_config("qmix", env, [])["env"] == env
    # sc2v2.yaml must not set what the presets set, or it would override every scenario's value
    preset_keys = set(yaml.safe_load((Path(PRESET_DIR) / "protoss_5_vs_5_epo.yaml").read_text()))
    assert preset_keys & set(v2["env_args"]) == {"map_name"}


def test_install_script_parses_and_helps() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    done = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True)
    assert (
        done.returncode == 0
        and "--version" in done.stdout
        and "4.6.2" in done.stdout
        and "SC2PATH" in done.stdout
    )
    bad = subprocess.run(["bash", str(SCRIPT), "--version", "5.0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "4.10 or 4.6.2" in bad.stderr

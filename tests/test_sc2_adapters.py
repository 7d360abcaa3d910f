"""The SMAC (sc2) and SMACv2 (sc2v2) adapters, end to end against the in-repo fake, and their pre-flight."""

from __future__ import annotations

import functools
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
from envs.sc2 import GameLaunchError, SC2Env, legacy_shuffle, load_env_class
from envs.sc2v2 import PRESET_DIR, SC2v2Env, scenarios
from fake_smac import FakeCapabilityWrapper, FakeStarCraft2Env
from utils.config_loader import build_config
from utils.errors import ConfigError, MissingDependencyError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "install_sc2.sh"
BINARY = Path("Versions") / "Base75689" / "SC2_x64"


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


def launches(root: Path) -> int:
    log = root / BINARY.parent / "launches.txt"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_game_that_does_not_start_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_sc2(tmp_path, exit_code=1)
    monkeypatch.setenv("SC2PATH", str(tmp_path))
    env = SC2Env(map_name="3m", env_cls=FakeStarCraft2Env)
    with pytest.raises(GameLaunchError) as err:
        env.reset()
    msg = str(err.value)
    assert msg.startswith("StarCraft II did not start (ConnectError from pysc2: Failed to connect")
    binary = tmp_path / BINARY
    assert f"The game binary is {binary}" in msg and f"file {binary}" in msg and f"ldd {binary}" in msg
    assert f"chmod +x {binary}" in msg and f"-dataDir {tmp_path}/" in msg and "needs no display" in msg
    assert "is not restarted" in msg and launches(tmp_path) == 1
    assert type(err.value.__cause__).__name__ == "ConnectError"


def test_a_game_that_started_fails_later_as_an_env_error(sc2_home: Path) -> None:
    env = SC2Env(map_name="3m", env_cls=FakeStarCraft2Env)
    env.reset()
    env.wrapped_env.reset = lambda: (_ for _ in ()).throw(ConnectionError("game crashed"))
    with pytest.raises(ConnectionError, match="game crashed"):  # restart_failed_envs handles it
        env.reset()
    assert launches(sc2_home) == 1


def test_binary_that_is_not_executable_is_found_before_the_run(sc2_home: Path) -> None:
    (sc2_home / BINARY).chmod(0o644)
    with pytest.raises(MissingDependencyError, match=f"{sc2_home / BINARY} is not executable: chmod \\+x"):
        SC2Env(map_name="3m", env_cls=FakeStarCraft2Env)


@pytest.mark.parametrize("runner", ["episode", "parallel"])
def test_launch_failure_stops_the_run_without_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_main: Any, runner: str
) -> None:
    home = tmp_path / "StarCraftII"
    make_sc2(home, exit_code=1)
    monkeypatch.setenv("SC2PATH", str(home))
    monkeypatch.setitem(REGISTRY, "sc2", functools.partial(SC2Env, env_cls=FakeStarCraft2Env))
    with pytest.raises(GameLaunchError, match="StarCraft II did not start"):
        run_main("qmix", "sc2", f"runner={runner}", "batch_size_run=2", "max_env_restarts=10")
    assert 1 <= launches(home) <= 2  # one start per env at most: no env was restarted


def test_render_runs_pysc2s_palette_shuffle(sc2_home: Path) -> None:
    direct = FakeStarCraft2Env(map_name="3m")
    direct.reset()
    if sys.version_info >= (3, 11):  # what smac's render() does on 3.11 without the fix
        with pytest.raises(TypeError, match="shuffle"):
            direct.render()
    env = SC2Env(map_name="3m", env_cls=FakeStarCraft2Env)
    env.reset()
    original = random.shuffle
    frame = env.render()
    # the pre-3.11 shuffle of range(8) with a constant 0.5 (worked by hand), restored afterwards
    assert random.shuffle is original and env.wrapped_env.palette == [0, 5, 1, 7, 2, 6, 3, 4]
    np.testing.assert_array_equal(frame, [[5, 1, 7, 2, 6, 3]])  # 3 allies and 3 enemies, all alive


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
    assert "the Python package `smac` is not installed" in msg and "bash tools/install_sc2.sh" in msg
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
    assert "bash tools/install_sc2.sh" in msg and "export SC2PATH=" in msg and "map file" not in msg


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
    assert str(tmp_path / "Maps" / "SMAC_Maps" / "3m.SC2Map") in msg and "bash tools/install_sc2.sh" in msg
    assert "binary" not in msg
    with pytest.raises(MissingDependencyError, match="32x32_flat.SC2Map"):
        SC2v2Env(map_name="zerg_5_vs_5", env_cls=FakeCapabilityWrapper)


def test_missing_game_version_names_the_flag(sc2_home: Path) -> None:
    with pytest.raises(MissingDependencyError) as err:
        SC2Env(map_name="3m", env_cls=FakeStarCraft2Env, game_version="4.6.2")
    msg = str(err.value)
    assert "Base69232" in msg and "bash tools/install_sc2.sh --version 4.6.2" in msg
    assert SC2Env(map_name="3m", env_cls=FakeStarCraft2Env, game_version="4.10").n_agents == 3


# --- package import: smac/smacv2 exclusion, the Python 3.11 fixes ---


@pytest.fixture
def protobuf_checks(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    """load_env_class's protobuf check, counted instead of run: the stand-in packages need no protobuf,
    and this process may have loaded it already (TensorBoard, in other tests). The subprocess tests below
    run the real check."""
    checks: list[None] = []
    monkeypatch.setattr(sc2, "check_protobuf", lambda: checks.append(None))
    return checks


@pytest.fixture
def fake_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protobuf_checks: list[None]) -> Iterator[Path]:
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
    yield tmp_path
    for name in ("smac", "smac.env", "smacv2", "smacv2.env"):
        sys.modules.pop(name, None)


def test_load_env_class_imports_once_and_excludes_the_other(fake_packages: Path, protobuf_checks: list[None]) -> None:
    cls = load_env_class("smac", "StarCraft2Env")
    assert cls.__module__ == "smac.env" and len(protobuf_checks) == 1
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


# --- protobuf before TensorBoard, and a launch failure through main.py (subprocesses: fresh imports) ---


def python_env(extra_path: Path | None = None) -> dict[str, str]:
    """This environment without a protobuf choice, with src/ and tests/ (and `extra_path`) importable."""
    env = {k: v for k, v in os.environ.items() if k != "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"}
    paths = [str(p) for p in (extra_path, ROOT / "src", ROOT / "tests") if p is not None]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    return env


PROTOBUF_ORDER = """
import os, sys
seen = {}
class Watch:  # notes the protobuf choice in force when torch and protobuf are first imported
    def find_spec(self, name, path=None, target=None):
        if name in ("torch", "google.protobuf") and name not in seen:
            seen[name] = os.environ.get("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION")
sys.meta_path.insert(0, Watch())
import main
config = main.prepare_config(["--config=qmix", "--env-config=" + sys.argv[1], "with", "use_tensorboard=True"])
from torch.utils.tensorboard import SummaryWriter  # what run() does for use_tensorboard=True
from google.protobuf.internal import api_implementation
print(seen["torch"], seen["google.protobuf"], api_implementation.Type())
"""


@pytest.mark.parametrize("env", ["sc2", "sc2v2", "lbf"])
def test_protobuf_is_chosen_before_torch_and_tensorboard_load(env: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROTOBUF_ORDER, env], capture_output=True, text=True, env=python_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    expected = "python python python" if env != "lbf" else "None None upb"  # other envs keep the fast one
    assert done.stdout.split() == expected.split()


def test_protobuf_loaded_too_early_is_named(fake_packages: Path) -> None:
    code = (
        "from google.protobuf import descriptor_pb2\n"  # protobuf starts, in its default (upb) implementation
        "from envs.sc2 import load_env_class\n"
        "load_env_class('smac', 'StarCraft2Env')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=python_env(fake_packages), timeout=60
    )
    assert done.returncode == 1 and "MissingDependencyError: protobuf's upb implementation" in done.stderr
    assert "protobuf was imported before it was set" in done.stderr and "python src/main.py` does so" in done.stderr


FAKE_SMAC_ENV = """import sys
from google.protobuf.internal import api_implementation
print("fake smac.env: protobuf", api_implementation.Type(), "after tensorboard:",
      "torch.utils.tensorboard" in sys.modules, file=sys.stderr)
from fake_smac import FakeStarCraft2Env as StarCraft2Env
"""


def test_main_with_tensorboard_stops_at_a_game_that_does_not_start(tmp_path: Path) -> None:
    """The issue's check, with tests/fake_smac.py as the `smac` package: TensorBoard and smac load in one
    process, and a binary that exits 1 ends the run with the launch message: rc 1, no traceback, no restart."""
    packages = tmp_path / "packages"
    (packages / "smac" / "env").mkdir(parents=True)
    (packages / "smac" / "__init__.py").touch()
    (packages / "smac" / "env" / "__init__.py").write_text(FAKE_SMAC_ENV)
    home = tmp_path / "StarCraftII"
    make_sc2(home, exit_code=1)
    env = python_env(packages)
    env["SC2PATH"] = str(home)
    argv = [sys.executable, str(ROOT / "src" / "main.py"), "--config=qmix", "--env-config=sc2", "with",
            "use_tensorboard=True", "use_cuda=False", f"local_results_path={tmp_path / 'results'}"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "fake smac.env: protobuf python after tensorboard: True" in done.stderr
    assert "error: StarCraft II did not start (ConnectError from pysc2" in done.stderr
    assert "Traceback" not in out and "restarted with fresh seeds" not in out and launches(home) == 1


# --- the install script's map and disk steps, with stand-ins for curl and df ---

FAKE_CURL = """#!/bin/bash
# curl stand-in: `-sIL URL` gives $FAKE_SIZE as Content-Length; `-fL --progress-bar -o FILE URL` copies the
# zip standing for URL. Every call is noted in $FAKE_LOG.
echo "$*" >> "$FAKE_LOG"
if [[ "$1" == "-sIL" ]]; then printf 'HTTP/1.1 200 OK\\r\\nContent-Length: %s\\r\\n\\r\\n' "$FAKE_SIZE"; exit 0; fi
case "$5" in
  */Linux/*) cp "$FAKE_GAME_ZIP" "$4" ;;
  *smacv2*) cp "$FAKE_SMACV2_ZIP" "$4" ;;
  *smac*) cp "$FAKE_SMAC_ZIP" "$4" ;;
  *) exit 22 ;;
esac
"""
FAKE_DF = """#!/bin/bash
echo "Filesystem 1024-blocks Used Available Capacity Mounted on"
echo "fake 100000000 0 $FAKE_FREE_KB 0% /"
"""


def run_install(tmp_path: Path, *args: str, free_kb: int = 10**9, size: int = 0) -> subprocess.CompletedProcess:
    import zipfile

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("curl", FAKE_CURL), ("df", FAKE_DF)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    zips = {"smac": {"3m": "smac 3m", "8m": "8m"}, "smacv2": {"3m": "another 3m", "8m": "8m", "32x32_flat": "flat"}}
    for package, maps in zips.items():
        with zipfile.ZipFile(tmp_path / f"{package}.zip", "w") as z:
            for name, text in maps.items():
                z.writestr(f"SMAC_Maps/{name}.SC2Map", text)
    with zipfile.ZipFile(tmp_path / "game.zip", "w") as z:  # unencrypted: unzip ignores -P for it
        binary = zipfile.ZipInfo("StarCraftII/Versions/Base75689/SC2_x64")
        binary.external_attr = 0o755 << 16
        z.writestr(binary, "game")
        z.writestr("StarCraftII/Libs/libfake.so", "lib")
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_LOG=str(tmp_path / "calls.txt"),
               FAKE_SIZE=str(size), FAKE_FREE_KB=str(free_kb), FAKE_SMAC_ZIP=str(tmp_path / "smac.zip"),
               FAKE_SMACV2_ZIP=str(tmp_path / "smacv2.zip"), FAKE_GAME_ZIP=str(tmp_path / "game.zip"))  # fmt: skip
    argv = ["bash", str(SCRIPT), "--sc2path", str(tmp_path / "StarCraftII"), "--no-packages", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


def test_install_keeps_smac_maps_and_adds_smacv2s(tmp_path: Path) -> None:
    done = run_install(tmp_path, "--no-game")
    assert done.returncode == 0, done.stderr
    maps = tmp_path / "StarCraftII" / "Maps" / "SMAC_Maps"
    assert sorted(p.name for p in maps.iterdir()) == ["32x32_flat.SC2Map", "3m.SC2Map", "8m.SC2Map"]
    assert (maps / "3m.SC2Map").read_text() == "smac 3m"  # SMACv2's differing copy does not replace it
    left_out = [line for line in done.stdout.splitlines() if "left out" in line]
    assert len(left_out) == 1 and "smacv2_maps's 3m.SC2Map" in left_out[0]  # 8m is the same: not reported
    assert not list(tmp_path.glob(".install_sc2.*"))  # the work folder beside the game is gone


def test_install_checks_free_disk_before_downloading_the_game(tmp_path: Path) -> None:
    done = run_install(tmp_path, "--no-maps", free_kb=1000, size=4 * 10**9)
    assert done.returncode == 1
    assert "not enough free disk" in done.stderr and "8.0 GB needed, 0.0 GB free" in done.stderr
    assert "--sc2path DIR" in done.stderr
    assert (tmp_path / "calls.txt").read_text().splitlines() == [
        "-sIL https://blzdistsc2-a.akamaihd.net/Linux/SC2.4.10.zip"
    ]  # asked the size, downloaded nothing


def test_install_moves_the_game_into_an_existing_folder(tmp_path: Path) -> None:
    kept = tmp_path / "StarCraftII" / "Maps" / "SMAC_Maps" / "mine.SC2Map"
    kept.parent.mkdir(parents=True)
    kept.write_text("mine")
    done = run_install(tmp_path, "--no-maps", size=300)
    assert done.returncode == 0, done.stderr
    binary = tmp_path / "StarCraftII" / BINARY
    assert binary.read_text() == "game" and os.access(binary, os.X_OK)
    assert (tmp_path / "StarCraftII" / "Libs" / "libfake.so").exists() and kept.read_text() == "mine"
    assert not list(tmp_path.glob(".install_sc2.*"))
    again = run_install(tmp_path, "--no-maps")  # that version is there: no second download
    assert "already in" in again.stdout and len((tmp_path / "calls.txt").read_text().splitlines()) == 2

"""StarCraft II micromanagement (SMAC v1 maps) behind the pull-style `MultiAgentEnv` contract.

Also home of what the SMACv2 adapter (`envs.sc2v2`) shares: the pre-flight checks, the guarded package
import and `StarCraftAdapter`, which delegates the contract to a SMAC-API env.

The game is a separate download and neither `smac` nor `smacv2` is on PyPI, so before any env is built a
missing package, binary, map or game version is one `MissingDependencyError` naming every problem and the
fix (`bash tools/install_sc2.sh`); a binary that is there but does not start is one `GameLaunchError` at
the first reset. Two traps of modern Python are handled: protobuf >= 4 (which TensorBoard needs) loads
s2clientprotocol's generated code only with its pure-Python implementation, chosen before anything
imports protobuf (`use_python_protobuf`, called by main.py); and pysc2 4.0's `pysc2/lib/colors.py` calls
`random.shuffle(x, f)`, whose second argument Python 3.11 removed. pysc2 runs that call when
`pysc2.lib.features` is imported, which smac and smacv2 do only in `render()` (their render.py), so only
`render` runs under `legacy_shuffle`; importing the packages and `save_replay` never reach it.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import importlib
import importlib.util
import os
import random
from collections.abc import Callable, Iterator, MutableSequence
from typing import Any

import numpy as np

from envs.multiagentenv import MultiAgentEnv
from utils.errors import ConfigError, MissingDependencyError, UserError

SMAC_V1_MAPS = (
    "3m", "8m", "25m", "5m_vs_6m", "8m_vs_9m", "10m_vs_11m", "27m_vs_30m", "MMM", "MMM2", "2s3z", "3s5z",
    "3s5z_vs_3s6z", "3s_vs_3z", "3s_vs_4z", "3s_vs_5z", "1c3s5z", "2m_vs_1z", "corridor", "6h_vs_8z",
    "2s_vs_1sc", "so_many_baneling", "bane_vs_bane", "2c_vs_64zg",
)  # fmt: skip
INSTALL_COMMAND = "bash tools/install_sc2.sh"
ALTERNATIVES = (
    "Runnable without StarCraft II: --env-config=lbf (Level-Based Foraging) or --env-config=smax "
    "(JaxMARL SMAX, SMAC-like maps without the game; pip install -r requirements-smax.txt && "
    "pip install --no-deps jaxmarl==0.2.0)."
)
# Game version -> the Versions/Base<build> folder pysc2 runs it from (the two versions SMAC results use).
GAME_BUILDS = {"4.10": 75689, "4.6.2": 69232}
# protobuf reads this once, when it is first imported; "python" selects its pure-Python implementation.
PROTOBUF_VARIABLE = "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"
# pysc2's errors (module, class) for a game that does not start: the binary could not be run, or the
# process it started never accepted the connection (it exited, or did not listen).
LAUNCH_ERRORS = {("pysc2.lib.sc_process", "SC2LaunchError"), ("pysc2.lib.remote_controller", "ConnectError")}
# Which of smac / smacv2 this process has imported. pysc2 registers every map class of a package in one
# global registry, so importing the other package as well raises DuplicateMapError.
_imported_package: str | None = None


class GameLaunchError(UserError):
    """The StarCraft II binary is installed but the game did not start at an env's first reset."""


def sc2_path() -> str:
    """Where pysc2 looks for the game on Linux: `$SC2PATH`, default `~/StarCraftII`."""
    return os.path.expanduser(os.environ.get("SC2PATH", "~/StarCraftII"))


def game_binary(game_version: str | None) -> str:
    """The SC2_x64 that pysc2 starts: the build of `game_version` (one of GAME_BUILDS), else the newest
    `Versions/Base<build>` under SC2PATH."""
    versions = os.path.join(sc2_path(), "Versions")
    build = GAME_BUILDS.get(str(game_version))
    if build is None:
        found = os.listdir(versions) if os.path.isdir(versions) else []
        builds = [int(d[4:]) for d in found if d.startswith("Base") and d[4:].isdigit()]
        if not builds:
            return os.path.join(versions, "Base<build>", "SC2_x64")
        build = max(builds)
    return os.path.join(versions, f"Base{build:05d}", "SC2_x64")


def use_python_protobuf() -> None:
    """Select protobuf's pure-Python implementation for this process and the processes it starts, unless
    the user chose one. protobuf >= 4 (TensorBoard needs >= 6) refuses s2clientprotocol's generated code
    in its default upb implementation, and reads the choice once, at its first import: so this must run
    before anything imports protobuf (TensorBoard's writer does). main.py calls it for sc2 and sc2v2."""
    os.environ.setdefault(PROTOBUF_VARIABLE, "python")


def check_protobuf() -> None:
    """`MissingDependencyError` when protobuf runs the implementation that cannot load s2clientprotocol."""
    use_python_protobuf()
    try:
        from google.protobuf.internal import api_implementation
    except ImportError:  # no protobuf: importing the package fails and says so
        return
    if api_implementation.Type() != "upb":
        return
    setting = os.environ[PROTOBUF_VARIABLE]
    why = (
        f"{PROTOBUF_VARIABLE} is set to {setting!r}"
        if setting != "python"
        else "protobuf was imported before it was set (e.g. by torch.utils.tensorboard)"
    )
    raise MissingDependencyError(
        "protobuf's upb implementation is active in this process and cannot load s2clientprotocol (the "
        f"StarCraft II protocol pysc2 uses): {why}. Set {PROTOBUF_VARIABLE}=python before anything imports "
        "protobuf: `python src/main.py` does so for --env-config=sc2 and sc2v2; a script of your own must set "
        "it at its top (or export it in the shell). Downgrading protobuf is no fix: TensorBoard needs a new one."
    )


def is_launch_error(err: BaseException) -> bool:
    return (type(err).__module__, type(err).__name__) in LAUNCH_ERRORS


def launch_message(err: BaseException, binary: str) -> str:
    """What a game that did not start at its first reset means, naming the binary and what to check."""
    return (
        f"StarCraft II did not start ({type(err).__name__} from pysc2: {err}).\n"
        f"The game binary is {binary}. Check that:\n"
        f"  - it is StarCraft II's Linux package (4.10 or 4.6.2, as `{INSTALL_COMMAND}` installs it), not the "
        "Windows or macOS game, and env_args.game_version names an installed version;\n"
        f"  - it is built for this machine (x86-64: `file {binary}`) and its libraries load (`ldd {binary}` "
        "shows no 'not found');\n"
        f"  - it is executable (`chmod +x {binary}`);\n"
        f"  - it starts by itself: `{binary} -listen 127.0.0.1 -port 15000 -dataDir {sc2_path()}/` keeps running "
        "(stop it with Ctrl-C); if it exits, what it prints is the cause. The Linux package is headless: it "
        "needs no display, and pysc2 starts it with no display or rendering flags.\n"
        "A game that does not start is not restarted (restart_failed_envs covers games that crash later)."
    )


def check_name(name: str, valid: list[str] | tuple[str, ...], what: str) -> None:
    """`ConfigError` naming the closest valid name and listing all of them, unless `name` is valid."""
    if name in valid:
        return
    match = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.0)
    hint = f" Did you mean {match[0]!r}?" if match else ""
    raise ConfigError(f"env_args.map_name={name!r} is not a {what}.{hint} Valid: {', '.join(valid)}")


def is_installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def preflight(map_file: str, game_version: str | None = None, missing_package: str | None = None) -> None:
    """Raise one `MissingDependencyError` listing every missing piece (package, binary, version, map)."""
    root = sc2_path()
    problems = []
    if missing_package:
        problems.append(
            f"the Python package {missing_package} is not installed (it is not on PyPI; PyPI's `smac` "
            "is SMAC3, an unrelated optimiser)"
        )
    versions = os.path.join(root, "Versions")
    builds = []
    if os.path.isdir(versions):
        builds = sorted(
            d for d in os.listdir(versions) if os.path.isfile(os.path.join(versions, d, "SC2_x64"))
        )
    if not builds:
        problems.append(
            f"no StarCraft II binary under SC2PATH={root} (expected {versions}/Base<build>/SC2_x64); "
            "if the game is installed elsewhere, export SC2PATH=/path/to/StarCraftII"
        )
    elif game_version is not None and str(game_version) in GAME_BUILDS and not os.path.isfile(
        game_binary(game_version)
    ):
        build = f"Base{GAME_BUILDS[str(game_version)]}"
        problems.append(
            f"env_args.game_version={game_version} needs {versions}/{build}, but only {', '.join(builds)} "
            f"is installed: run `{INSTALL_COMMAND} --version {game_version}` or set "
            "env_args.game_version=null to use the newest installed version"
        )
    elif not os.access(game_binary(game_version), os.X_OK):
        binary = game_binary(game_version)
        problems.append(
            f"{binary} is not executable: chmod +x {binary}"
            if os.path.isfile(binary)
            else f"{binary} is missing (pysc2 runs the newest Versions/Base<build>): install the game there or "
            "remove that folder"
        )
    map_path = os.path.join(root, "Maps", "SMAC_Maps", f"{map_file}.SC2Map")
    if not os.path.isfile(map_path):
        problems.append(f"the map file {map_path} is missing")
    if problems:
        raise MissingDependencyError(
            "StarCraft II is not ready:\n  - "
            + "\n  - ".join(problems)
            + f"\nFix: {INSTALL_COMMAND} (installs the game into $SC2PATH, default ~/StarCraftII, the SMAC and "
            f"SMACv2 maps, and the smac and smacv2 packages; --help lists its options).\n{ALTERNATIVES}"
        )


@contextlib.contextmanager
def legacy_shuffle() -> Iterator[None]:
    """Let `random.shuffle` take the `random` argument that Python 3.11 removed, while the block runs.

    pysc2 4.0's `pysc2/lib/colors.py` calls `random.shuffle(palette, lambda: 0.5)` (a fixed shuffle) when
    `pysc2.lib.features` is imported (by smac's and smacv2's render.py, at the first `render()`), which
    raises TypeError on 3.11. Inside the block a call with a second argument runs
    the pre-3.11 algorithm with that function as the source of floats in [0, 1); a call without one goes
    to the original `random.shuffle`. The original is restored on exit.
    """
    original = random.shuffle

    def shuffle(x: MutableSequence[Any], rand: Callable[[], float] | None = None) -> None:
        if rand is None:
            original(x)
            return
        for i in reversed(range(1, len(x))):
            j = int(rand() * (i + 1))
            x[i], x[j] = x[j], x[i]

    random.shuffle = shuffle  # type: ignore[assignment]
    try:
        yield
    finally:
        random.shuffle = original  # type: ignore[assignment]


def load_env_class(package: str, name: str) -> Callable[..., Any]:
    """`<package>.env.<name>` ("smac" or "smacv2"), once protobuf is known to be able to load it.

    Refuses to import one of smac / smacv2 once this process has imported the other.
    """
    global _imported_package
    if _imported_package not in (None, package):
        raise ConfigError(
            f"this process has already imported `{_imported_package}`; importing `{package}` as well makes "
            "pysc2 raise DuplicateMapError (both packages register the same map names). Run SMAC v1 maps "
            "(--env-config=sc2, uses smac) and SMACv2 scenarios (--env-config=sc2v2) in separate processes."
        )
    check_protobuf()
    try:
        module = importlib.import_module(f"{package}.env")
    except ImportError as err:
        raise MissingDependencyError(
            f"`import {package}.env` failed ({type(err).__name__}: {err}). SMAC and SMACv2 install from "
            f"their git repositories (PyPI's `smac` is SMAC3, an unrelated optimiser): {INSTALL_COMMAND}.\n"
            + ALTERNATIVES
        ) from err
    _imported_package = package
    if not hasattr(module, name):
        raise MissingDependencyError(f"{package}.env has no {name}; reinstall it with {INSTALL_COMMAND}.")
    return getattr(module, name)


class StarCraftAdapter(MultiAgentEnv):
    """Delegates the contract to a SMAC-API env built as `env_cls(**kwargs, seed=seed)`.

    `info` always carries `battle_won` and `episode_limit`. SMAC sets `episode_limit` only with
    `continuing_episode=True`; otherwise a time-out is read from the wrapped env's `timeouts` counter
    (SMAC and SMACv2 count exactly the episodes that hit the time limit), so a time-out is stored as not
    terminated and bootstraps. The game starts at the wrapped env's first reset: if it does not start
    there, `reset` raises `GameLaunchError` (a user error: the run stops with its message, unrestarted).
    """

    def __init__(self, env_cls: Callable[..., Any], kwargs: dict[str, Any], seed: int | None) -> None:
        self._env_cls = env_cls
        self._kwargs = kwargs
        self._env: Any = None
        self.game_binary = game_binary(kwargs.get("game_version"))
        self.seed(seed)

    @property
    def wrapped_env(self) -> Any:
        """The SMAC/SMACv2 env (for its extra methods, e.g. `get_capabilities`)."""
        return self._env

    def seed(self, seed: int | None) -> None:
        """Rebuild the wrapped env with game seed `seed` (cheap: the game launches at the first reset)."""
        if self._env is not None:
            self._env.close()
        try:
            self._env = self._env_cls(**copy.deepcopy(self._kwargs), seed=seed)
        except TypeError as err:
            raise ConfigError(
                f"{getattr(self._env_cls, '__name__', self._env_cls)} rejected env_args: {err}"
            ) from err
        self._launched = False
        info = self._env.get_env_info()
        self.n_agents = int(info["n_agents"])
        self.episode_limit = int(info["episode_limit"])

    def reset(self) -> None:
        if self._launched:
            self._env.reset()
            return
        try:
            self._env.reset()
        except Exception as err:
            if not is_launch_error(err):
                raise
            raise GameLaunchError(launch_message(err, self.game_binary)) from err
        self._launched = True

    def step(self, actions: Any) -> tuple[float, bool, dict[str, Any]]:
        timeouts = getattr(self._env, "timeouts", 0)
        reward, terminated, info = self._env.step([int(a) for a in actions])
        info = dict(info)
        won = bool(info.get("battle_won", False))
        timed_out = bool(info.get("episode_limit", False)) or getattr(self._env, "timeouts", 0) > timeouts
        info["battle_won"] = won
        info["episode_limit"] = bool(terminated) and timed_out and not won
        return float(reward), bool(terminated), info

    def get_obs(self) -> list[np.ndarray]:
        return [np.asarray(o, dtype=np.float32) for o in self._env.get_obs()]

    def get_obs_size(self) -> int:
        return int(self._env.get_obs_size())

    def get_state(self) -> np.ndarray:
        return np.asarray(self._env.get_state(), dtype=np.float32)

    def get_state_size(self) -> int:
        return int(self._env.get_state_size())

    def get_avail_actions(self) -> list[np.ndarray]:
        return [np.asarray(a, dtype=np.int64) for a in self._env.get_avail_actions()]

    def get_total_actions(self) -> int:
        return int(self._env.get_total_actions())

    def get_env_info(self) -> dict[str, Any]:
        return dict(self._env.get_env_info())

    def get_stats(self) -> dict[str, Any]:
        """The wrapped env's stats; {} before the first battle ends (SMAC divides by the battle count)."""
        try:
            return dict(self._env.get_stats())
        except ZeroDivisionError:
            return {}

    def render(self) -> Any:
        with legacy_shuffle():
            return self._env.render()

    def close(self) -> None:
        self._env.close()

    def save_replay(self) -> None:
        self._env.save_replay()


class SC2Env(StarCraftAdapter):
    """A SMAC v1 map. `kwargs` are SMAC's `StarCraft2Env` arguments (difficulty, reward_*, obs_*, ...).

    Needs the `smac` package; smacv2's `StarCraft2Env` is not used in its place (SMACv2's README: SMAC maps
    do not work in SMACv2, so its results would not be SMAC's). `env_cls` replaces the package's class
    (tests, custom builds); the package import is then skipped but the game checks run.
    """

    def __init__(
        self,
        map_name: str = "3m",
        seed: int | None = None,
        *,
        env_cls: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        check_name(map_name, SMAC_V1_MAPS, "SMAC v1 map (SMACv2 scenarios use --env-config=sc2v2)")
        game_version = kwargs.get("game_version")
        if env_cls is None:
            preflight(map_name, game_version, None if is_installed("smac") else "`smac`")
            env_cls = load_env_class("smac", "StarCraft2Env")
        else:
            preflight(map_name, game_version)
        self.map_name = map_name
        super().__init__(env_cls, {"map_name": map_name, **kwargs}, seed)

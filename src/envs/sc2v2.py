"""SMACv2 scenarios through smacv2's `StarCraftCapabilityEnvWrapper`, behind the `MultiAgentEnv` contract.

`env_args.map_name` names one of 18 scenarios, each a preset in `config/envs/sc2v2_maps/<name>.yaml`:
protoss/terran/zerg x 5_vs_5, 10_vs_10, 20_vs_20, 10_vs_11, 20_vs_23 (the SMACv2 paper's 15), plus
`<race>_5_vs_5_epo`, the paper's "extended partial observability" setting (`prob_obs_enemy: 0.0`,
`action_mask: False`). EPyMARL also ships 18 scenario files; the reference notes do not settle which
three complete its set, so the EPO variants were chosen here. The other env_args merge over the preset
(nested dicts such as `capability_config` key by key), and the preset's `map_name` (e.g. `10gen_protoss`)
is what reaches smacv2.

Seeding: `seed` is the game seed and also seeds the scenario samplers, which smacv2 builds on an
unseeded `numpy.random.default_rng()` and Python's global `random` (team order), so that two envs with
the same seed draw the same teams and start positions. This relies on smacv2's layout (checked against
oxwhirl/smacv2 at 577ab5a): the wrapper keeps its samplers in `env_key_to_distribution_map`, a sampler
keeps numpy Generators in attributes (`rng`), and a sampler made of others holds them as attributes that
have a `generate` method (`surrounded_distribution`, `reflect_distribution`, `pos_generator`, ...).
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import yaml

from envs.sc2 import StarCraftAdapter, check_name, is_installed, load_env_class, preflight
from utils.dicts import recursive_update
from utils.errors import ConfigError

PRESET_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config", "envs", "sc2v2_maps"
)
MAP_FILE = "32x32_flat"  # every 10gen_* map of SMACv2 is played on this map file


def scenarios() -> list[str]:
    """The scenario names (the preset files in `config/envs/sc2v2_maps`)."""
    return sorted(f[:-5] for f in os.listdir(PRESET_DIR) if f.endswith(".yaml"))


def scenario_kwargs(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The smacv2 wrapper's kwargs for scenario `name`: its preset with `overrides` merged over it."""
    check_name(name, scenarios(), "SMACv2 scenario (SMAC v1 maps use --env-config=sc2)")
    with open(os.path.join(PRESET_DIR, f"{name}.yaml")) as f:
        preset = yaml.safe_load(f)
    kwargs = recursive_update(preset, overrides)
    if not isinstance(kwargs.get("capability_config"), dict):
        raise ConfigError(
            f"env_args.capability_config must be a mapping, got {kwargs.get('capability_config')!r}"
        )
    return kwargs


def _generators(obj: Any, seen: set[int]) -> Iterator[tuple[Any, str]]:
    """(owner, attribute) of every numpy Generator held by sampler `obj` or by the samplers inside it."""
    for attr, value in list(vars(obj).items()):
        if isinstance(value, np.random.Generator):
            yield obj, attr
        elif hasattr(value, "generate") and hasattr(value, "__dict__") and id(value) not in seen:
            seen.add(id(value))
            yield from _generators(value, seen)


def seed_samplers(wrapper: Any, seed: int) -> int:
    """Give each numpy Generator of the wrapper's samplers its own stream spawned from `seed`.

    Returns how many Generators were re-seeded; warns when smacv2's layout was not found.
    """
    samplers = getattr(wrapper, "env_key_to_distribution_map", None)
    found: list[tuple[Any, str]] = []
    if isinstance(samplers, dict):
        seen: set[int] = set()
        for sampler in samplers.values():
            if id(sampler) not in seen and hasattr(sampler, "__dict__"):
                seen.add(id(sampler))
                found.extend(_generators(sampler, seen))
    if not found:
        warnings.warn(
            "sc2v2: found no samplers to seed (smacv2 keeps them elsewhere in this version); teams and start "
            "positions will not follow the seed.",
            stacklevel=2,
        )
    for (owner, attr), child in zip(found, np.random.SeedSequence(seed).spawn(len(found))):
        setattr(owner, attr, np.random.default_rng(child))
    return len(found)


class SC2v2Env(StarCraftAdapter):
    """A SMACv2 scenario. `kwargs` are `StarCraft2Env` arguments merged over the scenario preset.

    `env_cls` replaces smacv2's `StarCraftCapabilityEnvWrapper` (tests, custom builds); the package import
    is then skipped but the game checks run.
    """

    def __init__(
        self,
        map_name: str = "protoss_5_vs_5",
        seed: int | None = None,
        *,
        env_cls: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        env_kwargs = scenario_kwargs(map_name, kwargs)
        game_version = env_kwargs.get("game_version")
        if env_cls is None:
            preflight(MAP_FILE, game_version, None if is_installed("smacv2") else "`smacv2`")
            env_cls = load_env_class("smacv2", "StarCraftCapabilityEnvWrapper")
        else:
            preflight(MAP_FILE, game_version)
        self.scenario = map_name
        self._random_state: Any = None
        super().__init__(env_cls, env_kwargs, seed)

    def seed(self, seed: int | None) -> None:
        super().seed(seed)
        self._random_state = None
        if seed is not None:
            seed_samplers(self._env, seed)
            self._random_state = random.Random(seed).getstate()

    @contextlib.contextmanager
    def _own_random_state(self) -> Iterator[None]:
        """Run the block on this env's own state of Python's global `random` (smacv2 shuffles teams with it)."""
        if self._random_state is None:
            yield
            return
        outer = random.getstate()
        random.setstate(self._random_state)
        try:
            yield
        finally:
            self._random_state = random.getstate()
            random.setstate(outer)

    def reset(self) -> None:
        with self._own_random_state():
            super().reset()

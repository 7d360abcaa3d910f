"""Env registry. Each entry imports its adapter lazily, so an optional package is only imported when chosen.

An entry is called as `REGISTRY[name](**env_args)`; `env_args` always carries `seed`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from envs.multiagentenv import MultiAgentEnv


def _lbf(**kwargs: Any) -> MultiAgentEnv:
    from envs.lbf import LBFEnv

    return LBFEnv(**kwargs)


def _mamujoco(**kwargs: Any) -> MultiAgentEnv:
    from envs.mamujoco import MaMuJoCoEnv

    return MaMuJoCoEnv(**kwargs)


def _sc2(**kwargs: Any) -> MultiAgentEnv:
    from envs.sc2 import SC2Env

    return SC2Env(**kwargs)


def _sc2v2(**kwargs: Any) -> MultiAgentEnv:
    from envs.sc2v2 import SC2v2Env

    return SC2v2Env(**kwargs)


def _smax(**kwargs: Any) -> MultiAgentEnv:
    from envs.smax import SMAXEnv

    return SMAXEnv(**kwargs)


REGISTRY: dict[str, Callable[..., MultiAgentEnv]] = {
    "lbf": _lbf,
    "mamujoco": _mamujoco,
    "sc2": _sc2,
    "sc2v2": _sc2v2,
    "smax": _smax,
}

# Envs whose actions are continuous (Box): they need an actor-critic learner (facmac, facmac_vdn, salemb).
CONTINUOUS_ACTIONS: set[str] = {"mamujoco"}

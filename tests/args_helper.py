"""Args for components built directly in a test, as the config loader would give them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from utils.config_loader import build_config, load_default
from utils.registries import declared_keys, owners, registries


def run_args(**overrides: Any) -> SimpleNamespace:
    """default.yaml, the declared keys of the parts that `overrides` select (learner, agent, mixer, ...),
    then `overrides` (which may add run-time keys such as n_agents, state_shape or device)."""
    config = load_default()
    config.update({k: d.default for k, d in declared_keys({**config, **overrides}).items()})
    config.update(overrides)
    return SimpleNamespace(**config)


def applicable(alg: str, env: str, tokens: list[str]) -> list[str]:
    """The `with key=value` tokens that a run of `alg` on `env` takes: a test's shared settings may name
    keys of parts that some algs do not build (salemb's `imagine_start` for QMIX), which `with` rejects.
    Tokens of keys no part declares are kept, so a misspelt key still fails."""
    selecting = [t for t in tokens if t.split("=", 1)[0] in registries()]
    config = build_config(alg, env, selecting)
    return [t for t in tokens if (name := t.split("=", 1)[0].split(".")[0]) in config or not owners(name)]

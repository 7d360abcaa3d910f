"""Every registry of components, by the config key that selects from it, and the keys that the selected
components declare (utils/component_config.py). Imported by the config loader, the checks and --help;
no component imports it (so importing the registries here makes no cycle)."""

from __future__ import annotations

from typing import Any

from utils.component_config import DeclaredKey, keys_of
from utils.errors import ConfigError


def registries() -> dict[str, dict[str, Any]]:
    """The registry behind each key that selects a component (imported here, so that a config check
    names every valid choice)."""
    from components.action_selectors import REGISTRY as selectors
    from controllers import REGISTRY as macs
    from envs import REGISTRY as envs
    from learners import REGISTRY as learners
    from modules.agents import REGISTRY as agents
    from modules.critics import REGISTRY as critics
    from modules.mixers import REGISTRY as mixers
    from modules.world_models import REGISTRY as world_models
    from runners import REGISTRY as runners

    return {
        "runner": runners,
        "mac": macs,
        "agent": agents,
        "learner": learners,
        "mixer": mixers,
        "action_selector": selectors,
        "env": envs,
        "critic": critics,
        "world_model": world_models,
    }


# Every run builds these; the learner builds the kinds it names in its `components` (a mixer, a critic, a
# world model), so a QMIX run has no world-model keys although `world_model` has a default.
ALWAYS_BUILT = ("runner", "mac", "agent", "learner", "action_selector", "env")


def selected_kinds(selection: dict[str, Any], learners: dict[str, Any]) -> tuple[str, ...]:
    """The selecting keys whose components a run with `selection` builds."""
    learner = learners.get(selection.get("learner"))
    return ALWAYS_BUILT + (learner.components if learner is not None else ())


def declared_keys(selection: dict[str, Any]) -> dict[str, DeclaredKey]:
    """The keys declared by the components that `selection` (a config, or its selecting keys) picks. Two of
    them may declare one key (both read it) only with one default."""
    out: dict[str, DeclaredKey] = {}
    found = registries()
    for selector in selected_kinds(selection, found["learner"]):
        registry, name = found[selector], selection.get(selector)
        if not isinstance(name, str) or name not in registry:
            continue
        for declared in keys_of(registry[name], f"{selector}={name}"):
            if declared.name in out and out[declared.name].default != declared.default:
                raise ConfigError(f"config key '{declared.name}' is declared by both {out[declared.name].owner} and {declared.owner}, "
                                  f"with defaults {out[declared.name].default!r} and {declared.default!r}")
            out.setdefault(declared.name, declared)
    return out


def all_declared_keys() -> list[DeclaredKey]:
    """Every key every registered component declares (for --help and for naming a key's owner)."""
    return [k for selector, registry in registries().items() for name, component in registry.items()
            for k in keys_of(component, f"{selector}={name}")]


def owners(key_name: str) -> list[str]:
    """The components that declare `key_name`, e.g. ["mixer=qplex"]."""
    return [k.owner for k in all_declared_keys() if k.name == key_name]

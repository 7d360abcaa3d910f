"""Builds a run's config: default.yaml <- envs/ENV.yaml <- algs/ALG.yaml <- `with k=v` overrides.

An alg YAML may start from another with `base: <alg>` (e.g. vdn.yaml is qmix.yaml with another mixer),
and may hold a `continuous:` section: its form on envs with continuous (Box) actions (see `action_space_form`).
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from typing import Any

import yaml

from utils.dicts import recursive_update
from utils.errors import ConfigError
from utils.registries import declared_keys, owners

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config")
_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
# Keys under these may hold anything: the env (or component) named in the config validates them.
FREE_FORM_KEYS = ("env_args",)


def available(kind: str) -> list[str]:
    """Names of the YAML files under config/<kind> ('algs' or 'envs')."""
    folder = os.path.join(CONFIG_DIR, kind)
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".yaml"))


def closest(name: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


def load_yaml(kind: str, name: str, flag: str) -> dict[str, Any]:
    path = os.path.join(CONFIG_DIR, kind, f"{name}.yaml")
    if not os.path.isfile(path):
        choices = available(kind)
        raise ConfigError(f"{flag}={name}: no such config (looked for {path}).{closest(name, choices)} Valid: {', '.join(choices)}")
    with open(path) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys to values, got {type(data).__name__}")
    return data


def load_alg(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name in seen:
        raise ConfigError(f"alg configs inherit in a cycle: {' -> '.join((*seen, name))}")
    data = load_yaml("algs", name, "--config")
    base = data.pop("base", None)
    if base is None:
        return data
    return recursive_update(load_alg(base, (*seen, name)), data)


def parse_value(text: str) -> Any:
    """Command-line value -> Python value (YAML rules, plus `1e5`-style floats and `None`)."""
    if _FLOAT_RE.match(text):
        value = float(text)
        return int(value) if value.is_integer() and "." not in text else value
    if text in ("None", "none"):
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def split_with(argv: list[str]) -> tuple[list[str], list[str]]:
    """A script's command line split at `with`: (the tokens before it, the `key=value` overrides after it)."""
    if "with" not in argv:
        return argv, []
    i = argv.index("with")
    return argv[:i], argv[i + 1:]


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """`["t_max=100", "env_args.map_name=3m"]` -> `{"t_max": 100, "env_args.map_name": "3m"}`."""
    out: dict[str, Any] = {}
    for token in tokens:
        if "=" not in token:
            raise ConfigError(f"'{token}' after `with` is not of the form key=value (e.g. t_max=20000)")
        key, text = token.split("=", 1)
        if not key:
            raise ConfigError(f"'{token}' after `with` has no key")
        out[key] = parse_value(text)
    return out


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Apply dotted-key overrides; a key not in the config is an error with the closest suggestion."""
    out = copy.deepcopy(config)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = out
        for depth, part in enumerate(parts[:-1]):
            if part not in node or not isinstance(node[part], dict):
                if depth == 0 or parts[0] not in FREE_FORM_KEYS:
                    raise unknown_key(".".join(parts[: depth + 1]), node)
                node[part] = {}
            node = node[part]
        leaf = parts[-1]
        if leaf not in node and parts[0] not in FREE_FORM_KEYS:
            raise unknown_key(dotted, node)
        node[leaf] = recursive_update(node[leaf], value) if isinstance(value, dict) and isinstance(node.get(leaf), dict) else value
    return out


NEAREST_KEYS = 5  # an unknown key's error names at most this many of the keys nearest to it


def unknown_key(key: str, node: dict[str, Any]) -> ConfigError:
    """The error for a key the config lacks: the component that declares it, if the run does not select
    that component; else the nearest keys (by spelling) where there are any, and where to find all of them."""
    leaf = key.split(".")[-1]
    if "." not in key and (owned := owners(key)):
        return ConfigError(f"config key '{key}' belongs to {' and '.join(owned)}, which this run does not select "
                           f"(choose it, e.g. `with {owned[0]}`, or drop the key)")
    near = difflib.get_close_matches(leaf, list(node), n=NEAREST_KEYS, cutoff=0.5)
    hint = f" Did you mean '{near[0]}'?" if near else ""
    if len(near) > 1:
        hint += f" Other near keys: {', '.join(near[1:])}."
    return ConfigError(f"unknown config key '{key}'.{hint} `python src/main.py --help` lists every key with its doc")


def action_space_form(alg_cfg: dict[str, Any], continuous: bool, alg: str) -> dict[str, Any]:
    """The alg's settings for the env's kind of actions. On an env with continuous (Box) actions the alg's
    `continuous:` section overrides the rest (e.g. salemb's section turns it into its actor-critic form);
    the section may start from another alg's settings with `base:` (all but that alg's name). On other
    envs the section is dropped."""
    alg_cfg = dict(alg_cfg)
    section = alg_cfg.pop("continuous", None)
    if section is None or not continuous:
        return alg_cfg
    if not isinstance(section, dict):
        raise ConfigError(f"algs/{alg}.yaml: `continuous` must be a mapping of keys to values, got {section!r}")
    section = dict(section)
    base = section.pop("base", None)
    if base is not None:
        settings = load_alg(base)
        for key in ("name", "continuous"):
            settings.pop(key, None)
        section = recursive_update(settings, section)
    return recursive_update(alg_cfg, section)


def env_name(env: str, override_tokens: list[str]) -> str:
    """The registered env a run builds, known before any component is imported (main chooses protobuf's
    implementation by it)."""
    return registered_env(parse_overrides(override_tokens), load_yaml("envs", env, "--env-config"), load_default())


def registered_env(overrides: dict[str, Any], env_cfg: dict[str, Any], defaults: dict[str, Any]) -> str:
    """An `env=` override, else `env:` of envs/ENV.yaml, else default.yaml's."""
    return overrides.get("env", env_cfg.get("env", defaults["env"]))


def build_config(alg: str, env: str, override_tokens: list[str]) -> dict[str, Any]:
    """default.yaml <- the selected components' declared keys <- envs/ENV.yaml <- algs/ALG.yaml (its
    `continuous:` form on an env with Box actions) <- the overrides. Imports the component registries."""
    from envs import CONTINUOUS_ACTIONS

    config = load_default()
    env_cfg = load_yaml("envs", env, "--env-config")
    overrides = parse_overrides(override_tokens)
    alg_cfg = action_space_form(load_alg(alg), registered_env(overrides, env_cfg, config) in CONTINUOUS_ACTIONS, alg)
    selection = {**config, **env_cfg, **alg_cfg, **{k: v for k, v in overrides.items() if "." not in k}}
    config = recursive_update(config, {k: d.default for k, d in declared_keys(selection).items()})
    for source, part in ((f"envs/{env}.yaml", env_cfg), (f"algs/{alg}.yaml", alg_cfg)):
        config = recursive_update(config, applicable(source, part, config))
    return apply_overrides(config, overrides)


def applicable(source: str, part: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The keys of a YAML layer that the run has. A key of a component the run does not build is left out
    (an env YAML may set the parallel runner's keys, an alg may start from one with another mixer, salemb's
    continuous form drops its discrete exploration keys); a key that no component declares is an error."""
    out = {}
    for key, value in part.items():
        if key in config:
            out[key] = value
        elif not owners(key):
            raise ConfigError(f"{source} sets unknown key '{key}'.{closest(key, list(config))}")
    return out


def load_default() -> dict[str, Any]:
    with open(os.path.join(CONFIG_DIR, "default.yaml")) as f:
        return yaml.safe_load(f)

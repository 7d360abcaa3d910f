"""Validation of a merged config before anything starts: types, ranges, registry names, combinations.

Types come from default.yaml: a key whose default is an int takes ints, a float takes numbers, a bool
takes only true/false, a string takes strings. Keys whose default is null take anything of the types
listed in `NULLABLE_TYPES`.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from utils.component_config import AT_LEAST_1, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, Check
from utils.config_loader import closest, load_default
from utils.errors import ConfigError
from utils.registries import declared_keys, registries

NULLABLE_TYPES: dict[str, tuple[type, ...]] = {
    "mixer": (str,),
    "seed": (int,),
}

# Keys that take values of more than one type: the values allowed, and how to name them.
MIXED: dict[str, tuple[tuple[Any, ...], str]] = {
    "use_cuda": ((True, False, "auto"), "true, false or auto"),
}

RANGES: dict[str, tuple[Check, str]] = {
    "t_max": AT_LEAST_1,
    "batch_size": AT_LEAST_1,
    "buffer_size": AT_LEAST_1,
    "batch_size_run": AT_LEAST_1,
    "test_nepisode": NON_NEGATIVE,
    "test_interval": AT_LEAST_1,
    "log_interval": AT_LEAST_1,
    "runner_log_interval": AT_LEAST_1,
    "learner_log_interval": AT_LEAST_1,
    "save_model_interval": AT_LEAST_1,
    "target_update_interval": AT_LEAST_1,
    "target_update_tau": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "lr": POSITIVE,
    "gamma": UNIT_INTERVAL,
    "td_lambda": UNIT_INTERVAL,
    "grad_norm_clip": POSITIVE,
    "per_alpha": NON_NEGATIVE,
    "per_beta": UNIT_INTERVAL,
    "torch_threads": AT_LEAST_1,
    "load_step": NON_NEGATIVE,
    "keep_checkpoints": NON_NEGATIVE,
    "max_env_restarts": NON_NEGATIVE,
    "sample_window": (lambda v: v == 0 or v >= 2, "0 (whole episodes) or >= 2"),
    "updates_per_env_step": NON_NEGATIVE,
    "seed": (lambda v: v is None or 0 <= v < 2**32, "in [0, 2**32)"),
}

CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": ("adam", "rmsprop"),
    "optimizer_impl": ("foreach", "for_loop", "fused"),
    "target_update_mode": ("hard", "soft"),
    "nan_policy": ("stop", "skip_batch"),
}


def _type_ok(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, dict):
        return isinstance(value, dict)
    if isinstance(default, list):
        return isinstance(value, list)
    return True


def _type_name(default: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", dict: "a mapping", list: "a list"}[type(default)]


# What to run instead of a discrete-action alg on an env with continuous actions, by its mixer.
CONTINUOUS_FORMS = {
    "qmix": "--config=facmac (QMIX's mixer over per-agent critics)",
    "vdn": "--config=facmac_vdn (VDN's sum of per-agent critics)",
    None: "--config=facmac with mixer=null (independent per-agent critics)",
}


def check_action_space(config: dict[str, Any]) -> None:
    """The learner, controller and action selector must all handle the env's kind of actions."""
    from components.action_selectors import CONTINUOUS_ACTIONS as continuous_selectors
    from controllers import CONTINUOUS_ACTIONS as continuous_macs
    from envs import CONTINUOUS_ACTIONS as continuous_envs
    from learners import CONTINUOUS_ACTIONS as continuous_learners

    env, learner = config["env"], config["learner"]
    continuous = env in continuous_envs
    if continuous and learner not in continuous_learners:
        form = CONTINUOUS_FORMS.get(config["mixer"], CONTINUOUS_FORMS["qmix"])
        raise ConfigError(
            f"--config={config['name']} (learner '{learner}') picks actions by an argmax over discrete Q-values, "
            f"but env '{env}' has continuous (Box) actions. Use {form}, or --config=salemb, which takes its "
            "continuous form by itself (docs/continuous.md)"
        )
    if not continuous and learner in continuous_learners:
        raise ConfigError(
            f"learner '{learner}' needs continuous (Box) actions, but env '{env}' has discrete ones; "
            "use --config=qmix, vdn, iql or salemb"
        )
    for key, continuous_choices in (("mac", continuous_macs), ("action_selector", continuous_selectors)):
        if (config[key] in continuous_choices) != continuous:
            kind, valid = ("continuous", continuous_choices) if continuous else ("discrete", set(registries()[key]) - continuous_choices)
            raise ConfigError(f"{key}='{config[key]}' cannot act in env '{env}', whose actions are {kind}; valid: {', '.join(sorted(valid))}")


def coerce_and_validate(config: dict[str, Any]) -> dict[str, Any]:
    """Return a copy with integral floats turned into ints where an int is expected; raise ConfigError otherwise."""
    config = copy.deepcopy(config)
    declared = declared_keys(config)
    defaults = {**load_default(), **{k: d.default for k, d in declared.items()}}
    ranges = {**RANGES, **{k: d.check for k, d in declared.items() if d.check}}
    choices = {**CHOICES, **{k: d.choices for k, d in declared.items() if d.choices}}
    for key, value in config.items():
        default = defaults.get(key)
        if key not in defaults:
            continue
        if key in MIXED:
            allowed, names = MIXED[key]
            if not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
                raise ConfigError(f"{key}={value!r} is not valid: must be {names}")
            continue
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float) and value.is_integer():
            value = config[key] = int(value)
        if default is None:
            allowed = NULLABLE_TYPES.get(key)
            if value is not None and allowed is not None and not (isinstance(value, allowed) and not isinstance(value, bool)):
                names = " or ".join(t.__name__ for t in allowed)
                raise ConfigError(f"{key}={value!r} has the wrong type: expected {names} or null")
        elif not _type_ok(value, default):
            raise ConfigError(f"{key}={value!r} has the wrong type ({type(value).__name__}): expected {_type_name(default)}")
        if key in ranges:
            check, text = ranges[key]
            if value is not None and not check(value):
                raise ConfigError(f"{key}={value!r} is out of range: must be {text}")
        if key in choices and value not in choices[key]:
            raise ConfigError(f"{key}='{value}' is not valid.{closest(str(value), list(choices[key]))} Valid: {', '.join(map(str, choices[key]))}")
    for key, registry in registries().items():
        value = config.get(key)
        if key == "mixer" and value is None:
            continue
        if value not in registry:
            choices = sorted(registry) + (["null"] if key == "mixer" else [])
            raise ConfigError(f"{key}='{value}' is not registered.{closest(str(value), sorted(registry))} Valid: {', '.join(choices)}")
    if config["runner"] == "imagination":
        raise ConfigError(
            "runner='imagination' rolls a world model inside salemb_learner and steps no env; "
            "the env runner must be 'episode' or 'parallel'"
        )
    check_action_space(config)
    if config["render"] and not config["evaluate"]:
        raise ConfigError("render=True draws test episodes of a trained model: use it with evaluate=True (and checkpoint_path)")
    if config["sample_window"] and config["use_per"]:
        raise ConfigError("use_per=True prioritises whole episodes; it cannot be combined with sample_window > 0 (set sample_window=0)")
    if config["batch_size"] > config["buffer_size"] and not config["sample_window"]:
        raise ConfigError(
            f"batch_size={config['batch_size']} is larger than buffer_size={config['buffer_size']}: "
            "the buffer could never hold a batch; make buffer_size >= batch_size"
        )
    if config["action_selector"] == "epsilon_greedy" and config["epsilon_finish"] > config["epsilon_start"]:
        raise ConfigError(f"epsilon_finish={config['epsilon_finish']} is above epsilon_start={config['epsilon_start']}")
    return config

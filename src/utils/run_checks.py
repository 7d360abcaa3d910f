"""Checks of a type- and range-checked config that span several keys or look outside the config (the
checkpoint folder, the env's own arguments). `main.prepare_config` runs them before anything starts."""

from __future__ import annotations

from typing import Any

from utils.errors import ConfigError

# Envs cheap enough to build once (and close) before the run starts: building is the only complete check
# of their env_args, as the env package has the last word on its arguments. The others (the StarCraft II
# game, JAX or MuJoCo compilation) check theirs when the run builds them.
PREFLIGHT_ENVS = ("lbf",)


def check_user_config(config: dict[str, Any]) -> None:
    """Checks of keys the user sets but a resumed run's saved config fills in (so not run on resume)."""
    seed = config["env_args"].get("seed")
    if seed is not None:
        raise ConfigError(
            f"env_args.seed={seed!r}: the envs' seeds come from `seed` (env i gets seed + i); set seed={seed!r} instead"
        )


def check_run_config(config: dict[str, Any]) -> None:
    check_checkpoint_keys(config)
    check_salemb_keys(config)
    check_env_args(config)


def check_checkpoint_keys(config: dict[str, Any]) -> None:
    from utils.checkpoint import find_checkpoint

    if config["evaluate"] and not config["checkpoint_path"]:
        raise ConfigError("evaluate=True tests a trained model: give checkpoint_path=results/models/<run token>")
    if config["checkpoint_path"]:
        find_checkpoint(config["checkpoint_path"], config["load_step"])


def check_salemb_keys(config: dict[str, Any]) -> None:
    if not config["mixer_foresight"]:
        return
    if not config["use_world_model"]:
        raise ConfigError("mixer_foresight=True needs use_world_model=True: the foresight is a world-model roll-out")
    if config["mixer"] != "qmix":
        raise ConfigError(f"mixer_foresight=True needs mixer='qmix' (a state-conditioned mixer), got mixer={config['mixer']!r}")


def check_env_args(config: dict[str, Any]) -> None:
    """Build one env of a `PREFLIGHT_ENVS` env from the run's env_args (its errors name the bad argument)."""
    if config["env"] not in PREFLIGHT_ENVS:
        return
    from envs import REGISTRY

    REGISTRY[config["env"]](**config["env_args"]).close()

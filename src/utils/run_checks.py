"""Checks of a type- and range-checked config that span several keys or look outside the config (the
checkpoint folder, the env's own arguments). `main.prepare_config` runs them before anything starts."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import torch

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
    check_results_path(config)
    check_checkpoint_keys(config)
    check_salemb_keys(config)
    check_env_args(config)


def check_results_path(config: dict[str, Any]) -> None:
    """`local_results_path` must be a folder this process can create and write files in."""
    path = os.path.abspath(config["local_results_path"])
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write_check_"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"local_results_path={config['local_results_path']!r}: cannot write there ({exc.strerror}: "
            f"{exc.filename or path}); give a folder you can write to, e.g. local_results_path=results"
        ) from None


def check_checkpoint_keys(config: dict[str, Any]) -> None:
    from utils.checkpoint import find_checkpoint

    if config["evaluate"] and not config["checkpoint_path"]:
        raise ConfigError("evaluate=True tests a trained model: give checkpoint_path=results/models/<run token>")
    if config["checkpoint_path"]:
        find_checkpoint(config["checkpoint_path"], config["load_step"])


def check_salemb_keys(config: dict[str, Any]) -> None:
    if not config.get("mixer_foresight"):  # only salemb's learners have the key
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


def available_memory(device: torch.device | str) -> int | None:
    """Bytes free for new tensors on `device`: the GPU's free memory, or the host's MemAvailable (Linux;
    else the free physical pages); None where it cannot be read."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.3g} GiB"


def check_buffer_fits(scheme: dict[str, Any], groups: dict[str, int], preprocess: dict[str, Any],
                      buffer_size: int, max_seq_length: int, device: torch.device | str) -> None:
    """Estimate the replay buffer's bytes (one episode's tensors, as the buffer lays them out, times
    `buffer_size`) before allocating it; ConfigError naming the size and the memory available when it
    does not fit."""
    from components.episode_buffer import EpisodeBatch

    one = EpisodeBatch(scheme, groups, 1, max_seq_length, preprocess=preprocess)
    per_episode = sum(t.numel() * t.element_size() for store in (one.transition_data, one.episode_data) for t in store.values())
    need = per_episode * buffer_size
    available = available_memory(device)
    if available is not None and need > available:
        raise ConfigError(
            f"buffer_size={buffer_size}: the replay buffer would take {_gib(need)} ({per_episode} bytes per episode "
            f"of up to {max_seq_length} steps), more than the {_gib(available)} of memory available on {device}; "
            f"make buffer_size at most {available // per_episode}"
        )

"""The EpisodeBatch scheme of an env: what every episode stores, per step and per agent."""

from __future__ import annotations

from typing import Any

import torch

from components.action_spaces import is_continuous
from components.transforms import OneHot


def build_scheme(env_info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int], dict[str, Any]]:
    """The EpisodeBatch scheme, groups and preprocess for an env. Continuous (Box) actions are stored as
    float vectors `[agents, n_actions]` in [-1, 1] with no one-hot, their `avail_actions` marking each
    agent's real dimensions (see `components.action_spaces`)."""
    scheme = {
        "state": {"vshape": env_info["state_shape"]},
        "obs": {"vshape": env_info["obs_shape"], "group": "agents"},
        "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
        "avail_actions": {"vshape": (env_info["n_actions"],), "group": "agents", "dtype": torch.int},
        "reward": {"vshape": (1,)},
        "terminated": {"vshape": (1,), "dtype": torch.uint8},
    }
    groups = {"agents": env_info["n_agents"]}
    if is_continuous(env_info):
        scheme["actions"] = {"vshape": (env_info["n_actions"],), "group": "agents", "dtype": torch.float32}
        return scheme, groups, {}
    preprocess = {"actions": ("actions_onehot", [OneHot(out_dim=env_info["n_actions"])])}
    return scheme, groups, preprocess

"""Checkpoints: `<models>/<unique_token>/<t_env>/` holding agent.th, mixer.th, opt.th (PyMARL's files) and
state.th (everything needed to resume). A checkpoint is written into a temporary folder and renamed into
place, so a crash never leaves a half-written `<t_env>/` folder behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import torch

from utils.errors import ConfigError

COMPLETE_MARKER = "state.th"


def save_checkpoint(root: str, t_env: int, files: dict[str, Any], keep: int = 0) -> str:
    """Write `files` (name -> object for torch.save) as `<root>/<t_env>/`; keep the newest `keep` (0 = all)."""
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, str(t_env))
    tmp = tempfile.mkdtemp(prefix=f".{t_env}.", dir=root)
    try:
        for name, obj in files.items():
            torch.save(obj, os.path.join(tmp, name))
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep > 0:
        for step in list_checkpoints(root)[:-keep]:
            shutil.rmtree(os.path.join(root, str(step)), ignore_errors=True)
    return final


def list_checkpoints(root: str) -> list[int]:
    """Steps of the complete checkpoints under `root`, ascending."""
    if not os.path.isdir(root):
        return []
    steps = []
    for name in os.listdir(root):
        if name.isdigit() and os.path.isfile(os.path.join(root, name, COMPLETE_MARKER)):
            steps.append(int(name))
    return sorted(steps)


def find_checkpoint(root: str, load_step: int = 0) -> tuple[int, str]:
    """The checkpoint to load: the latest (load_step=0) or the one nearest `load_step`."""
    if not os.path.isdir(root):
        raise ConfigError(f"checkpoint_path='{root}' is not a folder; give results/models/<run token>")
    steps = list_checkpoints(root)
    if not steps:
        raise ConfigError(f"checkpoint_path='{root}' holds no complete checkpoint (no <t_env>/{COMPLETE_MARKER} inside)")
    step = max(steps) if load_step == 0 else min(steps, key=lambda s: abs(s - load_step))
    return step, os.path.join(root, str(step))


def load_file(folder: str, name: str) -> Any:
    return torch.load(os.path.join(folder, name), map_location="cpu", weights_only=False)

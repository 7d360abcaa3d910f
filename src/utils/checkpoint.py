"""Checkpoints: `<models>/<unique_token>/<t_env>/` holding agent.th, mixer.th, opt.th (PyMARL's files) and
state.th (everything needed to resume). A checkpoint is written into a temporary folder and renamed into
place, so a crash never leaves a half-written `<t_env>/` folder behind (a temporary folder left by a crash
is removed at the next save). A checkpoint whose files cannot be read (cut short by a full disk or a
copy) is skipped for the next older one by `load_latest`, and renamed `<t_env>.unreadable`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from typing import Any

from utils.errors import ConfigError

COMPLETE_MARKER = "state.th"


def save_checkpoint(root: str, t_env: int, files: dict[str, Any], keep: int = 0) -> str:
    """Write `files` (name -> object for torch.save) as `<root>/<t_env>/`; keep the newest `keep` (0 = all)."""
    import torch  # here, not at the top: resuming reads checkpoint folders before the protobuf choice (main.py)

    os.makedirs(root, exist_ok=True)
    remove_temporary(root)
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


def remove_temporary(root: str) -> None:
    """Remove the temporary folders (`.<t_env>.*`) of saves that a crash interrupted."""
    for name in os.listdir(root):
        if name.startswith(".") and name[1:].split(".", 1)[0].isdigit():
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


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
    import torch

    return torch.load(os.path.join(folder, name), map_location="cpu", weights_only=False)


def checkpoint_problem(folder: str) -> str | None:
    """Why the checkpoint in `folder` cannot be loaded, or None. Every `.th` file must be a whole torch
    archive (a zip whose directory sits at its end, so a file cut short fails here without reading it all)."""
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".th"):
            continue
        try:
            with zipfile.ZipFile(os.path.join(folder, name)):
                pass
        except (zipfile.BadZipFile, OSError) as exc:
            return f"{name} is not a complete torch file ({exc})"
    return None


def load_latest(
    root: str, load_step: int, names: tuple[str, ...], warn: Callable[[str], None]
) -> tuple[int, str, dict[str, Any]]:
    """Load the files `names` (those present; state.th must be) of the checkpoint `find_checkpoint` picks.
    One that cannot be read is renamed `<t_env>.unreadable`, `warn` is told, and the next older one is
    tried. Returns (t_env, folder, {name: object})."""
    step, folder = find_checkpoint(root, load_step)
    while True:
        try:
            problem = checkpoint_problem(folder)
            if problem is not None:
                raise ValueError(problem)
            present = [n for n in names if n == COMPLETE_MARKER or os.path.isfile(os.path.join(folder, n))]
            return step, folder, {name: load_file(folder, name) for name in present}
        except Exception as exc:
            warn(f"Checkpoint {folder} cannot be read ({type(exc).__name__}: {exc}); skipping it for the next older one")
            shutil.rmtree(folder + ".unreadable", ignore_errors=True)
            os.rename(folder, folder + ".unreadable")
        older = [s for s in list_checkpoints(root) if s < step]
        if not older:
            raise ConfigError(f"checkpoint_path='{root}' holds no readable checkpoint at or before t_env {step}")
        step, folder = older[-1], os.path.join(root, str(older[-1]))

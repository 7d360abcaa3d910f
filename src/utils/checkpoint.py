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


def restored_what(buffer_state: dict[str, Any] | None, buffer: Any) -> str:
    """What loading a checkpoint to train on restored, for the console; above all whether the replay buffer was."""
    restored = ": networks, optimisers, counters, RNG states and logged metrics restored; "
    if buffer_state is not None:
        return restored + f"replay buffer restored ({buffer.episodes_in_buffer} episodes)"
    return restored + (f"replay buffer NOT restored (the run saved none: save_buffer=False), so it refills from "
                       f"empty ({buffer.buffer_size} episodes) and the rest of the run differs from an uninterrupted one")


class RunCheckpoints:
    """Saving and restoring a whole run, each part naming its own state: `state.th` holds the learner's and
    the runner's `state_dict()` under their names, the loop's and the update schedule's at the top level,
    the RNG states and the logged metrics; the learner names PyMARL's files beside it
    (`checkpoint_files`), and `buffer.th` holds the replay buffer (`save_buffer`).

    `parts`: the run's `RunParts`; `loop`: the training loop, with `state_dict()` and
    `load_state_dict(state, t_env)` for its counters."""

    def __init__(self, args: Any, parts: Any, loop: Any, logger: Any):
        self.args = args
        self.parts = parts
        self.loop = loop
        self.logger = logger
        self.console = logger.console_logger
        self.models_dir = os.path.join(args.results_dir, "models", args.unique_token)

    def state_dict(self) -> dict[str, Any]:
        from utils.seeding import rng_state  # it imports torch: here, as in `save_checkpoint`

        parts = self.parts
        return {
            "learner": parts.learner.state_dict(),
            "runner": parts.runner.state_dict(),
            **self.loop.state_dict(),
            **parts.schedule.state_dict(),
            "rng": rng_state(),
            "logger": self.logger.state_dict(),
        }

    def save(self) -> None:
        """Write the checkpoint of the run at the runner's t_env, once the learning in flight has finished."""
        self.parts.schedule.finish_learning()
        state = self.state_dict()
        state["sacred_run_dir"] = self.args.sacred_run_dir
        files = {**self.parts.learner.checkpoint_files(state["learner"]), "state.th": state}
        if self.args.save_buffer:
            files["buffer.th"] = self.parts.buffer.state_dict()
        path = save_checkpoint(self.models_dir, self.parts.runner.t_env, files, keep=self.args.keep_checkpoints)
        self.console.info(f"Saved checkpoint {path}")

    def load(self, checkpoint_path: str, load_step: int) -> None:
        """Restore the chosen checkpoint; one that cannot be read is skipped (with a warning) for the next
        older one. To evaluate, only the learner and the counters are restored."""
        from utils.seeding import set_rng_state  # it imports torch: here, as in `save_checkpoint`

        parts, evaluate = self.parts, self.args.evaluate
        names = ("state.th",) if evaluate else ("state.th", "buffer.th")
        step, folder, files = load_latest(checkpoint_path, load_step, names, self.console.warning)
        state, buffer_state = files["state.th"], files.get("buffer.th")
        parts.learner.load_state_dict(state["learner"])
        parts.schedule.finish_learning()
        if not evaluate:
            parts.runner.load_state_dict(state["runner"])
        parts.runner.t_env = step
        self.loop.load_state_dict(state, step)
        parts.schedule.load_state_dict(state)
        if not evaluate:
            set_rng_state(state["rng"])
            self.logger.load_state_dict(state["logger"])
            if buffer_state is not None:
                parts.buffer.load_state_dict(buffer_state)
        self.console.info(f"Loaded checkpoint {folder} (t_env {step}){'' if evaluate else restored_what(buffer_state, parts.buffer)}")

"""Finding the run to resume, and re-opening its sacred folder so its metrics continue in place."""

from __future__ import annotations

import json
import os
from typing import Any

from sacred.observers import FileStorageObserver

from utils.checkpoint import find_checkpoint, list_checkpoints, load_file
from utils.errors import ConfigError


def locate_run(path: str) -> tuple[str, str]:
    """`resume=` takes a sacred run folder or a models/<token> folder; returns (sacred run dir, models dir)."""
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, "config.json")):
        info_path = os.path.join(path, "info.json")
        info = json.load(open(info_path)) if os.path.isfile(info_path) else {}
        if "model_dir" not in info:
            raise ConfigError(f"resume='{path}': this sacred run recorded no checkpoint folder (run it with save_model=True)")
        return path, info["model_dir"]
    if list_checkpoints(path):
        _, folder = find_checkpoint(path)
        state = load_file(folder, "state.th")
        return state["sacred_run_dir"], path
    raise ConfigError(
        f"resume='{path}' is neither a sacred run folder (results/sacred/<task>/<alg>/<id>) "
        "nor a checkpoint folder (results/models/<token>) holding a complete checkpoint"
    )


def saved_config(run_dir: str) -> dict[str, Any]:
    with open(os.path.join(run_dir, "config.json")) as f:
        return json.load(f)


def truncate_metrics(run_dir: str, t_env: int) -> None:
    """Drop metrics.json entries logged after step `t_env` (they are logged again after resuming)."""
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        return
    with open(path) as f:
        metrics = json.load(f)
    for series in metrics.values():
        keep = [i for i, step in enumerate(series["steps"]) if step <= t_env]
        for field in ("steps", "values", "timestamps"):
            series[field] = [series[field][i] for i in keep]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(metrics, f)
    os.replace(tmp, path)


class ResumingFileStorageObserver(FileStorageObserver):
    """A FileStorageObserver that writes into an existing run folder (metrics.json keeps growing)."""

    def __init__(self, run_dir: str):
        super().__init__(os.path.dirname(run_dir))
        self.resume_dir = run_dir

    def _make_run_dir(self, _id: Any) -> None:
        self.dir = self.resume_dir

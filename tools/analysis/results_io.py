"""Reading sacred run folders back: one `RunRecord` per folder that holds config.json and run.json.

Shared by the sweep (tools/sweep/state.py: which runs exist, and how they ended) and results_groups.py
(the curves plot.py and compare.py compare).
A run folder is `<results>/sacred/<task>/<alg name>/<id>/`, but any folder below the root that holds
both files counts, so several sweeps' output folders can be read at once.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from utils.task_names import task_name

COMPLETED = "COMPLETED"


@dataclass
class RunRecord:
    """One sacred run: its folder, saved config, run.json status and start time."""

    path: Path
    config: dict[str, Any]
    status: str
    start_time: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return task_name(self.config.get("env_args") or {})

    @property
    def alg(self) -> str:
        return str(self.config.get("name", "unnamed"))

    @property
    def seed(self) -> int | None:
        return self.config.get("seed")


def _read_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)


def _warn_unreadable(path: Path, reason: str) -> None:
    print(f"warning: skipping {path}: {reason}", file=sys.stderr)


def iter_runs(root: Path, on_unreadable: Callable[[Path, str], None] = _warn_unreadable) -> Iterator[RunRecord]:
    """Every run folder below `root` (sorted by path). A folder whose JSON cannot be read (a run that is
    writing it right now, or a truncated file) is skipped and given to `on_unreadable` with the reason
    (by default a warning on stderr)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"results folder '{root}' does not exist; give the folder a sweep or run wrote (e.g. results/)")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if "config.json" not in filenames or "run.json" not in filenames:
            continue
        path = Path(dirpath)
        try:
            config = _read_json(path / "config.json")
            run = _read_json(path / "run.json")
            info = _read_json(path / "info.json") if "info.json" in filenames else {}
        except (OSError, json.JSONDecodeError) as exc:
            on_unreadable(path, f"unreadable JSON ({exc})")
            continue
        yield RunRecord(path, config, str(run.get("status", "UNKNOWN")), str(run.get("start_time", "")), info)


def get_dotted(config: dict[str, Any], key: str) -> Any:
    """`config["env_args"]["key"]` for "env_args.key"; KeyError names the missing part."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"config has no key '{key}' (missing '{part}')")
        node = node[part]
    return node


@dataclass
class Curve:
    """One seed's learning curve of a metric."""

    run: RunRecord
    steps: np.ndarray
    values: np.ndarray

"""Reading sacred run folders back: one `RunRecord` per folder that holds config.json and run.json.

Shared by sweep.py (which runs exist, and how they ended), plot.py and compare.py (their curves).
A run folder is `<results>/sacred/<task>/<alg name>/<id>/`, but any folder below the root that holds
both files counts, so several sweeps' output folders can be read at once.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from utils.task_names import task_name  # noqa: E402

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


def iter_runs(root: Path) -> Iterator[RunRecord]:
    """Every run folder below `root` (sorted by path). A folder whose JSON cannot be read (a run that is
    writing it right now, or a truncated file) is reported on stderr and skipped."""
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
            print(f"warning: skipping {path}: unreadable JSON ({exc})", file=sys.stderr)
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


IGNORED_DIFFERENCES = {"local_results_path", "unique_token", "results_dir", "checkpoint_path", "env_args.seed"}


def config_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two run configs (paths and tokens ignored), sorted."""
    keys = []
    for key in sorted(set(a) | set(b)):
        dotted = prefix + key
        if dotted in IGNORED_DIFFERENCES:
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys.extend(config_differences(va, vb, dotted + "."))
        elif va != vb:
            keys.append(dotted)
    return keys


def run_label(run: RunRecord, split_keys: tuple[str, ...] = ()) -> str:
    """The algorithm's name in plots and tables: the config name, plus `key=value` for each split key
    (so a sweep over, say, lr shows one line per value)."""
    parts = [run.alg]
    for key in split_keys:
        try:
            value = get_dotted(run.config, key)
        except KeyError:
            value = "unset"
        parts.append(f"{key.split('.')[-1]}={value}")
    return " ".join(parts)


@dataclass
class Curve:
    """One seed's learning curve of a metric."""

    run: RunRecord
    steps: np.ndarray
    values: np.ndarray


def load_curves(
    root: Path,
    metric: str,
    split_keys: tuple[str, ...] = (),
    include_unfinished: bool = False,
) -> dict[tuple[str, str], list[Curve]]:
    """Curves of `metric` grouped by (task, algorithm label), one per seed.

    Only completed runs unless `include_unfinished`. Where several runs share a task, label and seed
    (a run repeated by hand), the one started last is kept and the others are named on stderr.
    Raises ValueError when nothing under `root` logged `metric`, listing the metrics that were logged.
    """
    chosen: dict[tuple[str, str, Any], tuple[RunRecord, dict[str, Any]]] = {}
    seen_metrics: set[str] = set()
    for run in iter_runs(root):
        if run.status != COMPLETED and not include_unfinished:
            continue
        metrics_path = run.path / "metrics.json"
        try:
            metrics = _read_json(metrics_path) if metrics_path.is_file() else {}
        except (OSError, json.JSONDecodeError) as exc:
            print(f"warning: skipping {run.path}: unreadable metrics.json ({exc})", file=sys.stderr)
            continue
        seen_metrics.update(metrics)
        series = metrics.get(metric)
        if not series or not series.get("values"):
            continue
        key = (run.task, run_label(run, split_keys), run.seed)
        previous = chosen.get(key)
        if previous is not None:
            older, newer = sorted([previous[0], run], key=lambda r: r.start_time)
            differ = config_differences(older.config, newer.config)
            hint = f" (their configs differ in {', '.join(differ[:5])}: --split {' '.join(differ[:5])} keeps both)" if differ else ""
            print(f"warning: {key[1]} on {key[0]} seed {key[2]} ran twice; using {newer.path}, not {older.path}{hint}", file=sys.stderr)
            if newer is not run:
                continue
        chosen[key] = (run, series)
    if not chosen:
        which = "runs" if include_unfinished else "completed runs"
        logged = ", ".join(sorted(seen_metrics)) or "none (no metrics.json found)"
        raise ValueError(f"no {which} under '{root}' logged metric '{metric}'; metrics logged there: {logged}")
    groups: dict[tuple[str, str], list[Curve]] = {}
    for (task, label, _), (run, series) in sorted(chosen.items(), key=lambda kv: kv[0][:2]):
        steps = np.asarray(series["steps"], dtype=float)
        values = np.asarray(series["values"], dtype=float)
        order = np.argsort(steps, kind="stable")
        groups.setdefault((task, label), []).append(Curve(run, steps[order], values[order]))
    for curves in groups.values():
        curves.sort(key=lambda c: (not isinstance(c.run.seed, int), c.run.seed if isinstance(c.run.seed, int) else 0))
    return groups


def select(groups: dict[tuple[str, str], list[Curve]], tasks: list[str] | None, algs: list[str] | None) -> dict[tuple[str, str], list[Curve]]:
    """Keep the given tasks and algorithms (by task name, and by label or config name); ValueError when
    a filter matches nothing, naming what there is."""
    all_tasks = sorted({t for t, _ in groups})
    all_algs = sorted({a for _, a in groups})
    for wanted, present, flag in ((tasks, all_tasks, "--tasks"), (algs, all_algs, "--algs")):
        missing = [w for w in wanted or [] if w not in present and not any(p.split(" ")[0] == w for p in present)]
        if missing:
            raise ValueError(f"{flag} {' '.join(missing)}: not in the results; present: {', '.join(present)}")
    return {
        (t, a): curves for (t, a), curves in groups.items()
        if (not tasks or t in tasks) and (not algs or a in algs or a.split(" ")[0] in algs)
    }

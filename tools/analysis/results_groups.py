"""Grouping sacred runs into experiments for plot.py and compare.py, and listing the runs left out.

An experiment is what was trained: the alg name, the task, t_max and the rest of the config, minus the
seed and the keys that only say where output goes, how often the console logs, or how fast the same
numbers are computed (`NEUTRAL_KEYS`). Runs of one experiment with different seeds are its seeds. Runs
of one alg on one task that differ in anything else are separate groups, labelled with the keys they
differ in (`qmix t_max=50000`, `qmix t_max=200000`), never pooled.

Left out, each with its reason: evaluate-only runs (always), failed and unfinished runs (unless
`include_unfinished`), runs that did not log the metric or whose metrics.json cannot be read, and the
older of two runs of the same experiment and seed.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools.analysis.results_io import COMPLETED, Curve, RunRecord, get_dotted, iter_runs

# Keys that do not change what a run trains: output places and switches, console/log intervals, the
# device, and speed options documented to give the same numbers (default.yaml). Dotted for nested keys.
NEUTRAL_KEYS = frozenset({
    "seed", "env_args.seed", "local_results_path", "unique_token", "results_dir", "label",
    "use_tensorboard", "save_model", "save_model_interval", "save_buffer", "keep_checkpoints", "save_replay",
    "render", "resume", "log_interval", "runner_log_interval", "learner_log_interval",
    "use_cuda", "buffer_cpu_only", "torch_threads", "keep_freed_memory", "parallel_learner", "learn_ahead",
    "env_worker_timeout", "envs_per_worker", "restart_failed_envs", "max_env_restarts",
})
# A resumed run loads its own checkpoints: where they are says nothing about the experiment.
RESUME_KEYS = frozenset({"checkpoint_path", "load_step"})
MAX_LABEL_KEYS = 3  # keys shown in a group's label; more are counted ("+2 keys")
UNSET = "unset"


def flat_experiment_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as {dotted key: value}, without the neutral keys (and, in a resumed run, the resume keys)."""
    neutral = NEUTRAL_KEYS | (RESUME_KEYS if config.get("resume") else frozenset())
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            dotted = prefix + key
            if dotted in neutral:
                continue
            if isinstance(value, dict) and value:
                walk(value, dotted + ".")
            else:
                flat[dotted] = value

    walk(config, "")
    return flat


def experiment_id(config: dict[str, Any]) -> str:
    """A string equal for two configs exactly when they define the same experiment."""
    return json.dumps(flat_experiment_config(config), sort_keys=True, default=str)


def leave_out_reason(run: RunRecord, include_unfinished: bool = False) -> str | None:
    """Why `run` does not belong in a comparison, or None when it does."""
    if run.config.get("evaluate"):
        return "evaluate-only run (evaluate=True): no training curve"
    if run.status == COMPLETED or include_unfinished:
        return None
    if run.status == "FAILED":
        return "failed (status FAILED; --unfinished includes it)"
    return f"unfinished (status {run.status}: still running, killed or interrupted; --unfinished includes it)"


@dataclass
class LeftOut:
    """A run folder left out of a comparison, and why."""

    path: Path
    reason: str


@dataclass
class Groups:
    """Curves by (task, label), one per seed; the runs left out; and, per (task, alg name) split into
    several groups, the keys those groups differ in."""

    curves: dict[tuple[str, str], list[Curve]]
    left_out: list[LeftOut] = field(default_factory=list)
    splits: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Dotted keys whose values are not the same in all `configs` (neutral keys ignored): t_max first,
    then alphabetical. A key one config lacks counts as differing."""
    flats = [flat_experiment_config(c) for c in configs]
    keys = sorted(set().union(*flats))
    differ = [k for k in keys if len({json.dumps(f.get(k, UNSET), sort_keys=True, default=str) for f in flats}) > 1]
    return sorted(differ, key=lambda k: (k != "t_max", k))


def group_labels(alg: str, configs: dict[str, dict[str, Any]], split_keys: tuple[str, ...] = ()) -> dict[str, str]:
    """A label per experiment of one alg on one task ({experiment id: config} in, {id: label} out): the
    alg name, `key=value` for each split key, then for the keys the experiments differ in (at most
    `MAX_LABEL_KEYS`, then a count). Labels that would still coincide get `#1`, `#2`, ..."""
    differ = [k for k in differing_keys(list(configs.values())) if k not in split_keys]
    labels = {}
    for eid, config in configs.items():
        parts = [alg]
        for key in (*split_keys, *differ[:MAX_LABEL_KEYS]):
            try:
                value = _value_text(get_dotted(config, key))
            except KeyError:
                value = UNSET
            parts.append(f"{key.split('.')[-1]}={value}")
        if len(differ) > MAX_LABEL_KEYS:
            parts.append(f"+{len(differ) - MAX_LABEL_KEYS} keys")
        labels[eid] = " ".join(parts)
    counts = Counter(labels.values())
    seen: Counter[str] = Counter()
    for eid in sorted(labels):
        label = labels[eid]
        if counts[label] > 1:
            seen[label] += 1
            labels[eid] = f"{label} #{seen[label]}"
    return labels


def _read_metrics(run: RunRecord) -> dict[str, Any]:
    path = run.path / "metrics.json"
    if not path.is_file():
        return {}
    with open(path) as f:
        return json.load(f)


def load_groups(
    root: Path,
    metric: str,
    split_keys: tuple[str, ...] = (),
    include_unfinished: bool = False,
) -> Groups:
    """Every run below `root` that logged `metric`, grouped by experiment (see the module docstring).

    Raises ValueError when no run is left, naming the metrics that were logged and why runs were left out.
    """
    chosen: dict[tuple[str, str, str, Any], tuple[RunRecord, dict[str, Any]]] = {}
    left_out: list[LeftOut] = []
    seen_metrics: set[str] = set()
    for run in iter_runs(root, lambda path, why: left_out.append(LeftOut(path, why))):
        reason = leave_out_reason(run, include_unfinished)
        if reason:
            left_out.append(LeftOut(run.path, reason))
            continue
        try:
            metrics = _read_metrics(run)
        except (OSError, json.JSONDecodeError) as exc:
            left_out.append(LeftOut(run.path, f"unreadable metrics.json ({exc})"))
            continue
        seen_metrics.update(metrics)
        series = metrics.get(metric)
        if not series or not series.get("values"):
            left_out.append(LeftOut(run.path, f"did not log {metric}"))
            continue
        key = (run.task, run.alg, experiment_id(run.config), run.seed)
        previous = chosen.get(key)
        if previous is not None:
            older, newer = sorted([previous[0], run], key=lambda r: r.start_time)
            left_out.append(LeftOut(older.path, f"same experiment and seed {run.seed} as {newer.path}, which started later"))
            if newer is not run:
                continue
        chosen[key] = (run, series)
    if not chosen:
        which = "runs" if include_unfinished else "completed runs"
        logged = ", ".join(sorted(seen_metrics)) or "none (no metrics.json found)"
        why = Counter(lo.reason.split(" (")[0] for lo in left_out)
        skipped = f"; left out: {', '.join(f'{n} {r}' for r, n in sorted(why.items()))}" if why else ""
        raise ValueError(f"no {which} under '{root}' logged metric '{metric}'; metrics logged there: {logged}{skipped}")
    return _build_groups(chosen, left_out, split_keys)


def _build_groups(chosen: dict[tuple[str, str, str, Any], tuple[RunRecord, dict[str, Any]]],
                  left_out: list[LeftOut], split_keys: tuple[str, ...]) -> Groups:
    experiments: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for (task, alg, eid, _), (run, _) in chosen.items():
        experiments.setdefault((task, alg), {}).setdefault(eid, run.config)
    labels = {(task, alg): group_labels(alg, configs, split_keys) for (task, alg), configs in experiments.items()}
    splits = {key: differing_keys(list(configs.values())) for key, configs in experiments.items() if len(configs) > 1}
    curves: dict[tuple[str, str], list[Curve]] = {}
    for (task, alg, eid, _), (run, series) in sorted(chosen.items(), key=lambda kv: kv[0][:3]):
        steps = np.asarray(series["steps"], dtype=float)
        values = np.asarray(series["values"], dtype=float)
        order = np.argsort(steps, kind="stable")
        curves.setdefault((task, labels[(task, alg)][eid]), []).append(Curve(run, steps[order], values[order]))
    for group in curves.values():
        group.sort(key=lambda c: (not isinstance(c.run.seed, int), c.run.seed if isinstance(c.run.seed, int) else 0))
    return Groups(dict(sorted(curves.items())), sorted(left_out, key=lambda lo: str(lo.path)), splits)


def load_curves(
    root: Path,
    metric: str,
    split_keys: tuple[str, ...] = (),
    include_unfinished: bool = False,
) -> dict[tuple[str, str], list[Curve]]:
    """The curves of `load_groups` alone: {(task, label): one Curve per seed}."""
    return load_groups(root, metric, split_keys, include_unfinished).curves


def finals(curves: list[Curve], last: int = 1) -> np.ndarray:
    """Each seed's final value: the mean of its last `last` logged points, shape (seeds,)."""
    if last < 1:
        raise ValueError(f"--last {last}: the final value averages the last N logged points, N >= 1")
    return np.array([np.mean(c.values[-last:]) for c in curves])


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


def report(groups: Groups, stream: Any = None) -> None:
    """Print (to stderr by default) how algorithms were split into groups and every run left out, with why."""
    stream = stream if stream is not None else sys.stderr
    for (task, alg), keys in sorted(groups.splits.items()):
        labels = sorted(label for t, label in groups.curves if t == task and label.split(" ")[0] == alg)
        print(f"note: {alg} on {task} ran as {len(labels)} different experiments (they differ in "
              f"{', '.join(keys)}), kept apart: {'; '.join(labels)}", file=stream)
    if groups.left_out:
        print(f"left out {len(groups.left_out)} run(s):", file=stream)
        for lo in groups.left_out:
            print(f"  {lo.path}: {lo.reason}", file=stream)

"""Shared by the LBF learning checks: run a grid of `src/main.py` runs, read them back, print tables.

Each run is its own process (output in <out>/logs/); every figure is read back from the sacred run
folders (<out>/sacred/<task>/<alg>/<id>/), so a table can be re-printed from an existing folder.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from tools import ROOT
from tools.analysis.results_groups import differing_keys, experiment_id, leave_out_reason
from tools.analysis.results_io import RunRecord, iter_runs
from tools.analysis.results_stats import area_under_curve
from tools.sweep.progress import Progress

REFRESH_SECONDS = 1.0


def grid_parser(doc: str, algs: list[str], tasks: list[str], out: str) -> argparse.ArgumentParser:
    """The options both LBF checks take: algorithms, tasks, seeds, jobs, output folder, report-only, and
    extra `key=value` overrides for every run."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algs", nargs="+", default=algs)
    parser.add_argument("--tasks", nargs="+", default=tasks)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / out)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("extra", nargs="*", help="extra `key=value` overrides for every run")
    return parser


def log_path(out: Path, alg: str, task: str, seed: int) -> Path:
    return out / "logs" / f"{alg}_{task}_seed{seed}.log"


def run_one(alg: str, task: str, seed: int, t_max: int, out: Path, extra: list[str]) -> tuple[float, int]:
    """Train `alg` on LBF `task` for `t_max` steps with 40 test points; returns (wall seconds, exit code)."""
    log = log_path(out, alg, task, seed)
    log.parent.mkdir(parents=True, exist_ok=True)
    test_interval = max(1000, t_max // 40)
    cmd = [
        sys.executable, str(ROOT / "src" / "main.py"), f"--config={alg}", "--env-config=lbf", "with",
        f"env_args.key={task}", f"t_max={t_max}", f"seed={seed}", f"local_results_path={out}",
        f"test_interval={test_interval}", f"log_interval={test_interval}", f"runner_log_interval={test_interval}",
        f"learner_log_interval={test_interval}", "test_nepisode=50", "use_cuda=False", "save_model=False", *extra,
    ]
    start = time.time()
    with open(log, "w") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    return time.time() - start, code


def completed_jobs(out: Path) -> set[tuple[str, str, int, int]]:
    """(alg, task, seed, t_max) of the training runs under `out` that completed, so a grid started again
    skips them (an evaluate-only run does not count)."""
    if not out.is_dir():
        return set()
    return {(run.alg, run.task, run.seed, run.config.get("t_max")) for run in iter_runs(out) if leave_out_reason(run) is None}


def run_grid(jobs: list[tuple[str, str, int, int]], out: Path, extra: list[str], n_jobs: int,
             task_extra: dict[str, list[str]] | None = None) -> None:
    """Run every (alg, task, seed, t_max) not completed under `out` already, `n_jobs` at a time, with
    the sweep's progress display on stderr (a line per finished run, a live status line with ETA). Each
    run gets its task's `task_extra` overrides, then `extra` (so `extra` wins). The overrides are not
    compared: a grid rerun with other overrides needs its own `out`."""
    task_extra = task_extra or {}
    done_before = completed_jobs(out)
    skipped = [job for job in jobs if job in done_before]
    if skipped:
        print(f"{len(skipped)} of {len(jobs)} runs completed before under {out}: skipped", flush=True)
    jobs = [job for job in jobs if job not in done_before]
    progress = Progress(len(jobs), n_jobs, skipped=len(skipped))

    def run(job: tuple[str, str, int, int]) -> None:
        alg, task, seed, _ = job
        label = f"{alg} {task} seed {seed}"
        progress.started(label)
        wall, code = run_one(*job, out, [*task_extra.get(task, []), *extra])
        progress.finished(label, code, str(log_path(out, alg, task, seed)), wall)

    try:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            pending = {pool.submit(run, job) for job in jobs}
            while pending:
                done, pending = wait(pending, timeout=REFRESH_SECONDS)
                for fut in done:
                    fut.result()
                progress.refresh()  # the live line's elapsed time and ETA move while runs go on
    finally:
        progress.close()


def wall_seconds(run_json: dict[str, Any]) -> float:
    start, stop = run_json.get("start_time"), run_json.get("stop_time")
    if not start or not stop:
        return float("nan")
    return (datetime.datetime.fromisoformat(stop) - datetime.datetime.fromisoformat(start)).total_seconds()


def completed_metrics(out: Path) -> Iterator[tuple[RunRecord, dict[str, Any]]]:
    """Every completed training run under `out` that wrote metrics, with its metrics.json (evaluate-only,
    failed and unfinished runs are left out)."""
    for run in iter_runs(out):
        metrics_file = run.path / "metrics.json"
        if leave_out_reason(run) is None and metrics_file.is_file():
            yield run, json.loads(metrics_file.read_text())


def collect(out: Path, metric: str = "test_return_mean") -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Completed runs under `out`, grouped by (alg name, task): seed, final, best, AUC of `metric`, the
    last t_env, steps/s and wall-clock seconds per 10k env steps. Where one (alg, task) holds runs of
    different experiments (say two t_max), a warning on stderr names the keys they differ in
    (tools.analysis.compare keeps such runs apart)."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    configs: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for run, metrics in completed_metrics(out):
        curve = metrics.get(metric, {"values": [], "steps": []})
        if not curve["values"]:
            continue
        t_env = curve["steps"][-1]
        wall = wall_seconds(json.loads((run.path / "run.json").read_text()))
        rows.setdefault((run.alg, run.task), []).append({
            "seed": run.seed, "final": curve["values"][-1], "best": max(curve["values"]),
            "auc": area_under_curve(curve["steps"], curve["values"]), "t_env": t_env,
            "sps": metrics.get("steps_per_sec", {"values": [float("nan")]})["values"][-1],
            "wall_10k": wall / max(t_env, 1) * 10_000,
        })
        configs.setdefault((run.alg, run.task), {})[experiment_id(run.config)] = run.config
    for (alg, task), experiments in sorted(configs.items()):
        if len(experiments) > 1:
            keys = ", ".join(differing_keys(list(experiments.values())))
            print(f"warning: {alg} on {task}: the runs under {out} are {len(experiments)} different experiments "
                  f"(they differ in {keys}), counted together here; tools.analysis.compare keeps them apart", file=sys.stderr)
    return rows


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def print_table(rows: dict[tuple[str, str], list[dict[str, Any]]], goals: dict[tuple[str, str], float] | None = None) -> None:
    """One line per run and a mean line per (task, alg); a goal is met when every seed's final reaches it."""
    goals = goals or {}
    print(f"{'task':<26} {'alg':<7} {'seed':>5} {'final':>7} {'best':>7} {'AUC':>7} {'t_env':>8} {'steps/s':>8} {'s/10k':>7}")
    for (alg, task), runs in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        runs = sorted(runs, key=lambda r: r["seed"])
        for r in runs:
            print(f"{task:<26} {alg:<7} {r['seed']:>5} {r['final']:>7.3f} {r['best']:>7.3f} {r['auc']:>7.3f} "
                  f"{r['t_env']:>8} {r['sps']:>8.0f} {r['wall_10k']:>7.0f}")
        finals = [r["final"] for r in runs]
        goal = goals.get((alg, task))
        verdict = "" if goal is None else f"  goal every seed >= {goal}: " + ("met" if min(finals) >= goal else "NOT met")
        print(f"{task:<26} {alg:<7} {'mean':>5} {mean(finals):>7.3f} {mean([r['best'] for r in runs]):>7.3f} "
              f"{mean([r['auc'] for r in runs]):>7.3f} {'':>8} {'':>8} {mean([r['wall_10k'] for r in runs]):>7.0f}{verdict}")

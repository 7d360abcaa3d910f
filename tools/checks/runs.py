"""What the checks' grids share: their command line, the sweep's command line for a grid, reading the
completed runs back, and the table.

The runs go through the sweep (tools.sweep: one process per run, its output in <out>/logs/; started again,
it skips the runs that completed with the same config). Every figure is read back from the sacred run
folders (<out>/sacred/<task>/<alg>/<id>/), so a table can be re-printed from an existing folder.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools import ROOT
from tools.analysis.results_groups import differing_keys, experiment_id, leave_out_reason
from tools.analysis.results_io import RunRecord, iter_runs
from tools.analysis.results_stats import area_under_curve


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


def sweep_argv(algs: list[str], env_config: str, sets: list[str], seeds: list[int], t_max: int, test_points: int,
               jobs: int, out: Path, overrides: list[str]) -> list[str]:
    """The sweep's command line (tools.sweep.cli.main) for a check's grid: `algs` x the `--set` values of
    `sets` x `seeds` on `env_config`, `jobs` runs at a time, into `out`. Every run trains `t_max` env steps
    with `test_points` tests (every t_max / test_points steps, at least 1000; the logs as often) on the CPU,
    without checkpoints, then takes `overrides` (which win over these)."""
    interval = max(1000, t_max // test_points)
    return [
        "--configs", *algs, "--env-config", env_config, *[arg for s in sets for arg in ("--set", s)],
        "--seed-list", *map(str, seeds), "--jobs", str(jobs), "--out", str(out),
        f"t_max={t_max}", f"test_interval={interval}", f"log_interval={interval}", f"runner_log_interval={interval}",
        f"learner_log_interval={interval}", "use_cuda=False", "save_model=False", *overrides,
    ]


def lbf_sweep(algs: list[str], tasks: list[str], seeds: int, t_max: int, jobs: int, out: Path,
              overrides: list[str]) -> list[str]:
    """The sweep's command line for the LBF checks' grid: `algs` x `tasks` x seeds 1..`seeds`, `t_max` env
    steps with 40 tests of 50 episodes, then `overrides`."""
    return sweep_argv(algs, "lbf", [f"env_args.key={','.join(tasks)}"], list(range(1, seeds + 1)), t_max, 40, jobs,
                      out, ["test_nepisode=50", *overrides])


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

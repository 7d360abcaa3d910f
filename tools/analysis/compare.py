"""The comparison tables: per task and algorithm, over seeds, from sacred run folders.

    python -m tools.analysis.compare results/ --metric test_return_mean
    python -m tools.analysis.compare results/ --metric test_battle_won_mean --baseline qmix --csv results/table.csv

Runs are grouped by experiment (alg name, task, t_max and the rest of the config but the seed and output
keys; results_groups.py): an algorithm run with two settings gives two rows, labelled with the keys
that differ. Evaluate-only, failed and unfinished runs are left out (`--unfinished` keeps the failed
and unfinished ones), and every run left out is listed on stderr with why.

First table, columns: seeds; final (each seed's last logged value, or the mean of its last N with `--last N`):
mean ± sample std over seeds; max (mean over seeds of each seed's best value); AUC (trapezoid area
under the curve divided by its step span, i.e. the curve's average height; mean over seeds); IQM of the
finals with its 95% percentile-bootstrap interval over seeds; final mean / the baseline's final mean
on the same task (shown only where the baseline's mean is positive, as a ratio to a negative or zero
return says nothing). IQM and intervals are rliable's (stratified bootstrap over seeds, 2000 samples).

Second table: the probability of improvement P(X > Y) of the finals (rliable: the probability that a
seed of X ends above a seed of Y, ties counting one half), per task and averaged over the tasks both
ran, with 95% stratified-bootstrap intervals; each algorithm against `--baseline`, or every pair.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tools.analysis.results_groups import finals, load_groups, report, select
from tools.analysis.results_io import Curve
from tools.analysis.results_stats import (
    area_under_curve,
    iqm,
    probability_of_improvement,
    stratified_bootstrap_ci,
)


@dataclass
class Row:
    task: str
    algorithm: str
    seeds: int
    final_mean: float
    final_std: float
    max_mean: float
    auc_mean: float
    iqm: float
    iqm_low: float
    iqm_high: float
    ratio: float


@dataclass
class Improvement:
    """P(X > Y) of the finals per task and over the tasks both ran: (estimate, CI low, CI high)."""

    x: str
    y: str
    per_task: dict[str, tuple[float, float, float]]
    overall: tuple[float, float, float]


def summarise(curves: list[Curve], last: int = 1) -> dict[str, float]:
    """Seeds, final, max, AUC and IQM (with CI) of one algorithm on one task."""
    finals_ = finals(curves, last)
    low, high = stratified_bootstrap_ci([finals_], iqm)
    return {
        "seeds": len(curves),
        "final_mean": float(np.mean(finals_)),
        "final_std": float(np.std(finals_, ddof=1)) if len(finals_) > 1 else 0.0,
        "max_mean": float(np.mean([np.max(c.values) for c in curves])),
        "auc_mean": float(np.mean([area_under_curve(c.steps, c.values) for c in curves])),
        "iqm": float(iqm(finals_)),
        "iqm_low": float(low),
        "iqm_high": float(high),
    }


def baseline_label(labels: list[str], baseline: str, task: str) -> str | None:
    """The label among one task's `labels` that `baseline` names: the label itself, or the only label of
    its alg name (its first word); None when the task has none. ValueError when the name fits several."""
    if baseline in labels:
        return baseline
    named = [label for label in labels if label.split(" ")[0] == baseline.split(" ")[0]]
    if len(named) > 1:
        raise ValueError(f"--baseline {baseline}: on {task} it names {len(named)} groups ({'; '.join(named)}); "
                         "give one of these labels, quoted")
    return named[0] if named else None


def build_rows(groups: dict[tuple[str, str], list[Curve]], baseline: str | None, last: int = 1) -> list[Row]:
    """One row per (task, algorithm), sorted by task then algorithm; ratio is NaN where it is undefined."""
    stats = {key: summarise(curves, last) for key, curves in groups.items()}
    rows = []
    for (task, alg), s in sorted(stats.items()):
        base_label = baseline_label([a for t, a in stats if t == task], baseline, task) if baseline else None
        base = stats.get((task, base_label)) if base_label else None
        ratio = s["final_mean"] / base["final_mean"] if base and base["final_mean"] > 0 else float("nan")
        rows.append(Row(task=task, algorithm=alg, ratio=ratio, **s))
    return rows


def improvements(groups: dict[tuple[str, str], list[Curve]], baseline: str | None, last: int = 1) -> list[Improvement]:
    """P(X > Y) for each algorithm X against the baseline Y (on each task, the group `baseline` names
    there), or (no baseline) for every pair X < Y of labels, over the tasks both ran; pairs with no task
    in common are left out."""
    tasks = sorted({t for t, _ in groups})
    labels = sorted({a for _, a in groups})
    if baseline:
        bases = {t: baseline_label([a for tt, a in groups if tt == t], baseline, t) for t in tasks}
        pairs = [(x, baseline) for x in labels]
    else:
        pairs = [(x, y) for i, x in enumerate(labels) for y in labels[i + 1:]]
    result = []
    for x, y in pairs:
        on_task = {t: bases[t] if baseline else y for t in tasks}
        shared = [t for t in tasks if (t, x) in groups and on_task[t] not in (None, x) and (t, on_task[t]) in groups]
        if not shared:
            continue
        xs = [finals(groups[(t, x)], last) for t in shared]
        ys = [finals(groups[(t, on_task[t])], last) for t in shared]
        per_task = {t: probability_of_improvement([a], [b]) for t, a, b in zip(shared, xs, ys)}
        overall = per_task[shared[0]] if len(shared) == 1 else probability_of_improvement(xs, ys)
        result.append(Improvement(x, y, per_task, overall))
    return result


def improvement_markdown(rows: list[Improvement], metric: str) -> str:
    tasks = sorted({t for r in rows for t in r.per_task})
    several = len(tasks) > 1
    header = ["X", "Y", *tasks] + (["all tasks both ran"] if several else [])
    lines = [f"Probability of improvement P(X > Y) of the final {metric} over seeds [95% CI] (rliable):", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]

    def cell(p: tuple[float, float, float] | None) -> str:
        return "–" if p is None else f"{p[0]:.2f} [{p[1]:.2f}, {p[2]:.2f}]"

    for r in rows:
        overall = [cell(r.overall)] if several else []
        lines.append("| " + " | ".join([r.x, r.y, *(cell(r.per_task.get(t)) for t in tasks), *overall]) + " |")
    return "\n".join(lines)


def _num(x: float) -> str:
    return "–" if np.isnan(x) else f"{x:.3f}"


def markdown(rows: list[Row], metric: str, baseline: str | None) -> str:
    header = ["task", "algorithm", "seeds", f"final {metric}", "max", "AUC", "IQM final [95% CI]"]
    if baseline:
        header.append(f"final / {baseline}")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
    for r in rows:
        cells = [r.task, r.algorithm, str(r.seeds), f"{r.final_mean:.3f} ± {r.final_std:.3f}", _num(r.max_mean),
                 _num(r.auc_mean), f"{r.iqm:.3f} [{r.iqm_low:.3f}, {r.iqm_high:.3f}]"]
        if baseline:
            cells.append("–" if np.isnan(r.ratio) else f"{r.ratio:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(rows: list[Row], path: Path, baseline: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        fields = list(asdict(rows[0]))
        ratio_name = f"ratio_to_{baseline}" if baseline else "ratio"
        writer.writerow([ratio_name if name == "ratio" else name for name in fields])
        for r in rows:
            writer.writerow(asdict(r).values())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="folder searched recursively for sacred run folders")
    parser.add_argument("--metric", default="test_return_mean")
    parser.add_argument("--baseline", help="algorithm whose final mean the others are divided by (e.g. qmix)")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV here")
    parser.add_argument("--last", type=int, default=1, metavar="N", help="final value = mean of each seed's last N logged points")
    parser.add_argument("--algs", nargs="+", help="only these algorithms (config names or labels)")
    parser.add_argument("--tasks", nargs="+", help="only these tasks")
    parser.add_argument("--split", nargs="+", default=[], metavar="KEY", help="config keys that split an algorithm into rows, e.g. lr")
    parser.add_argument("--unfinished", action="store_true", help="also count failed runs and runs that are still running or were interrupted")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        loaded = load_groups(args.results, args.metric, tuple(args.split), args.unfinished)
        report(loaded)
        groups = select(loaded.curves, args.tasks, args.algs)
        if args.baseline and not any(alg == args.baseline or alg.split(" ")[0] == args.baseline.split(" ")[0] for _, alg in groups):
            present = sorted({alg for _, alg in groups})
            raise ValueError(f"--baseline {args.baseline}: no such algorithm in the results; present: {', '.join(present)}")
        rows = build_rows(groups, args.baseline, args.last)
        poi = improvements(groups, args.baseline, args.last)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(rows, args.metric, args.baseline))
    if poi:
        print("\n" + improvement_markdown(poi, args.metric))
    if args.csv:
        write_csv(rows, args.csv, args.baseline)
        print(f"\nwrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

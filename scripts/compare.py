"""The comparison table: per task and algorithm, over seeds, from sacred run folders.

    python scripts/compare.py results/ --metric test_return_mean
    python scripts/compare.py results/ --metric test_battle_won_mean --baseline qmix --csv results/table.csv

Columns: seeds; final (each seed's last logged value, or the mean of its last N with `--last N`):
mean ± sample std over seeds; max (mean over seeds of each seed's best value); AUC (trapezoid area
under the curve divided by its step span, i.e. the curve's average height; mean over seeds); IQM of the
finals with its 95% percentile-bootstrap interval over seeds; final mean / the baseline's final mean
on the same task (shown only where the baseline's mean is positive, as a ratio to a negative or zero
return says nothing).
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from results_io import Curve, load_curves, select
from results_stats import area_under_curve, iqm, stratified_bootstrap_ci


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


def summarise(curves: list[Curve], last: int = 1, n_boot: int = 2000) -> dict[str, float]:
    """Seeds, final, max, AUC and IQM (with CI) of one algorithm on one task."""
    if last < 1:
        raise ValueError(f"--last {last}: the final value averages the last N logged points, N >= 1")
    finals = np.array([np.mean(c.values[-last:]) for c in curves])
    low, high = stratified_bootstrap_ci([finals], iqm, n_boot=n_boot)
    return {
        "seeds": len(curves),
        "final_mean": float(np.mean(finals)),
        "final_std": float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
        "max_mean": float(np.mean([np.max(c.values) for c in curves])),
        "auc_mean": float(np.mean([area_under_curve(c.steps, c.values) for c in curves])),
        "iqm": float(iqm(finals)),
        "iqm_low": float(low),
        "iqm_high": float(high),
    }


def build_rows(groups: dict[tuple[str, str], list[Curve]], baseline: str | None, last: int = 1) -> list[Row]:
    """One row per (task, algorithm), sorted by task then algorithm; ratio is NaN where it is undefined."""
    stats = {key: summarise(curves, last) for key, curves in groups.items()}
    rows = []
    for (task, alg), s in sorted(stats.items()):
        base = stats.get((task, baseline)) if baseline else None
        ratio = s["final_mean"] / base["final_mean"] if base and base["final_mean"] > 0 else float("nan")
        rows.append(Row(task=task, algorithm=alg, ratio=ratio, **s))
    return rows


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
    parser.add_argument("--unfinished", action="store_true", help="also count runs that are still running, failed or were interrupted")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        groups = select(load_curves(args.results, args.metric, tuple(args.split), args.unfinished), args.tasks, args.algs)
        if args.baseline and not any(alg == args.baseline for _, alg in groups):
            present = sorted({alg for _, alg in groups})
            raise ValueError(f"--baseline {args.baseline}: no such algorithm in the results; present: {', '.join(present)}")
        rows = build_rows(groups, args.baseline, args.last)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(rows, args.metric, args.baseline))
    if args.csv:
        write_csv(rows, args.csv, args.baseline)
        print(f"\nwrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Learning curves from sacred run folders: one panel per task, one line per algorithm, env steps on x.

    python scripts/plot.py results/ --metric test_return_mean --out results/plots/lbf.png
    python scripts/plot.py results/ --metric test_battle_won_mean --agg iqm --smooth 3 --algs qmix salemb

The line is the mean (or IQM) over seeds, the band its 95% percentile-bootstrap interval over seeds.
Seeds' curves are interpolated onto the steps they all cover before they are combined; `--smooth W`
averages each seed's last W logged points first. Writes the PNG and a PDF with the same stem.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from results_io import Curve, load_curves, select
from results_stats import AGGREGATES, common_grid, smooth, stratified_bootstrap_ci


def aggregate(curves: list[Curve], agg: str, window: int = 1, n_boot: int = 2000) -> tuple[np.ndarray, ...]:
    """(steps, centre, band low, band high) of one algorithm on one task."""
    statistic = AGGREGATES[agg]
    grid, values = common_grid([(c.steps, smooth(c.values, window)) for c in curves])
    low, high = stratified_bootstrap_ci([values], statistic, n_boot=n_boot)
    return grid, statistic(values, axis=0), low, high


def output_paths(out: Path) -> tuple[Path, Path]:
    if out.suffix.lower() not in ("", ".png", ".pdf"):
        raise ValueError(f"--out {out}: give a .png or .pdf file (both are written, with the same stem)")
    stem = out.with_suffix("")
    return stem.with_suffix(".png"), stem.with_suffix(".pdf")


def plot(groups: dict[tuple[str, str], list[Curve]], metric: str, agg: str, window: int, out: Path) -> tuple[Path, Path]:
    """Draw every (task, algorithm) group and write the PNG and PDF; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png, pdf = output_paths(out)
    tasks = sorted({t for t, _ in groups})
    algs = sorted({a for _, a in groups})
    colours = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(algs)}
    ncols = min(3, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.6 * nrows), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        for alg in algs:
            curves = groups.get((task, alg))
            if not curves:
                continue
            steps, centre, low, high = aggregate(curves, agg, window)
            ax.plot(steps, centre, color=colours[alg], label=f"{alg} ({len(curves)})", linewidth=1.6)
            ax.fill_between(steps, low, high, color=colours[alg], alpha=0.2, linewidth=0)
        ax.set_title(task)
        ax.set_xlabel("env steps")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", title="alg (seeds)", title_fontsize="small")
    for ax in axes.flat[len(tasks):]:
        ax.set_visible(False)
    fig.suptitle(f"{metric}: {agg} over seeds, 95% bootstrap CI" + (f", smoothed over {window} points" if window > 1 else ""))
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=150)
    fig.savefig(pdf)
    plt.close(fig)
    return png, pdf


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="folder searched recursively for sacred run folders")
    parser.add_argument("--metric", default="test_return_mean")
    parser.add_argument("--out", type=Path, default=Path("results/plots/curves.png"), help="PNG path; the PDF gets the same stem")
    parser.add_argument("--agg", choices=sorted(AGGREGATES), default="mean", help="centre line over seeds")
    parser.add_argument("--smooth", type=int, default=1, metavar="W", help="trailing moving average over W logged points")
    parser.add_argument("--algs", nargs="+", help="only these algorithms (config names or labels)")
    parser.add_argument("--tasks", nargs="+", help="only these tasks (map name, LBF key, scenario)")
    parser.add_argument("--split", nargs="+", default=[], metavar="KEY", help="config keys that split an algorithm into lines, e.g. lr")
    parser.add_argument("--unfinished", action="store_true", help="also plot runs that are still running, failed or were interrupted")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smooth < 1:
        print(f"error: --smooth {args.smooth}: the window is a number of points, at least 1", file=sys.stderr)
        return 2
    try:
        groups = select(load_curves(args.results, args.metric, tuple(args.split), args.unfinished), args.tasks, args.algs)
        png, pdf = plot(groups, args.metric, args.agg, args.smooth, args.out)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for (task, alg), curves in sorted(groups.items()):
        print(f"{task:<28} {alg:<24} seeds {len(curves)}: {', '.join(str(c.run.seed) for c in curves)}")
    print(f"wrote {png} and {pdf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

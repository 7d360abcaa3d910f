"""Learning curves and performance profiles from sacred run folders: one panel per task, one line per
algorithm.

    python -m tools.analysis.plot results/ --metric test_return_mean --out results/plots/lbf.png
    python -m tools.analysis.plot results/ --metric test_battle_won_mean --agg iqm --smooth 3 --algs qmix salemb

Curves (OUT, env steps on x): the mean (or IQM) over seeds, the band its 95% stratified-bootstrap
interval over seeds (rliable). Seeds' curves are interpolated onto the steps they all cover before
they are combined; `--smooth W` averages each seed's last W logged points first.
Performance profiles (OUT's stem + `_profile`): rliable's score distributions of the final values, the
fraction of an algorithm's seeds that ended above each value of the metric, with 95% bands.
Runs are grouped by experiment, as compare.py groups them (results_groups.py); the runs left out are
listed on stderr with why. Each figure is written as PNG and PDF.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from tools.analysis.results_groups import finals, load_groups, report, select
from tools.analysis.results_io import Curve
from tools.analysis.results_stats import (
    AGGREGATES,
    common_grid,
    performance_profile,
    smooth,
    stratified_bootstrap_ci,
)
from utils.timing import short_count

N_TAUS = 101  # points of a performance profile


def aggregate(curves: list[Curve], agg: str, window: int = 1, name: str = "") -> tuple[np.ndarray, ...]:
    """(steps, centre, band low, band high) of one algorithm on one task; `name` (task and algorithm)
    goes into the error when the seeds' curves share no steps, which names the runs that do not meet."""
    statistic = AGGREGATES[agg]
    try:
        grid, values = common_grid([(c.steps, smooth(c.values, window)) for c in curves])
    except ValueError:
        late = max(curves, key=lambda c: c.steps[0])
        early = min(curves, key=lambda c: c.steps[-1])
        raise ValueError(
            f"{name or curves[0].run.alg}: the seeds' curves share no steps: {late.run.path} (seed {late.run.seed}) "
            f"starts at step {late.steps[0]:g}, after {early.run.path} (seed {early.run.seed}) ends at "
            f"{early.steps[-1]:g}; leave one out with --algs/--tasks, or drop --unfinished") from None
    low, high = stratified_bootstrap_ci([values], statistic)
    return grid, statistic(values, axis=0), low, high


def step_label(x: float, _pos: Any = None) -> str:
    """A short tick label for an env-step count: 500, 50k, 1.5M."""
    return short_count(x)


def output_paths(out: Path) -> tuple[Path, Path]:
    if out.suffix.lower() not in ("", ".png", ".pdf"):
        raise ValueError(f"--out {out}: give a .png or .pdf file (both are written, with the same stem)")
    stem = out.with_suffix("")
    return stem.with_suffix(".png"), stem.with_suffix(".pdf")


def profile_path(out: Path) -> Path:
    """Where the performance profiles go: OUT's stem + `_profile`, e.g. curves.png -> curves_profile.png."""
    return out.with_name(out.with_suffix("").name + "_profile.png")


def _figure(groups: dict[tuple[str, str], list[Curve]]) -> tuple[Any, Any, list[str], dict[str, Any]]:
    """A figure with one panel per task, the tasks, and a colour per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({t for t, _ in groups})
    algs = sorted({a for _, a in groups})
    colours = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(algs)}
    ncols = min(3, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[len(tasks):]:
        ax.set_visible(False)
    return fig, axes, tasks, colours


def _title(fig: Any, text: str) -> None:
    """A figure title wrapped to the figure's width (a one-panel figure is narrow)."""
    columns = max(1, int(fig.get_figwidth() / 4.8))
    fig.suptitle(textwrap.fill(text, width=48 * columns), fontsize="medium")


def _save(fig: Any, out: Path) -> tuple[Path, Path]:
    import matplotlib.pyplot as plt

    png, pdf = output_paths(out)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=150)
    fig.savefig(pdf)
    plt.close(fig)
    return png, pdf


def plot(groups: dict[tuple[str, str], list[Curve]], metric: str, agg: str, window: int, out: Path) -> tuple[Path, Path]:
    """Draw every (task, algorithm) group's curve and write the PNG and PDF; returns their paths."""
    from matplotlib.ticker import FuncFormatter

    output_paths(out)
    fig, axes, tasks, colours = _figure(groups)
    for ax, task in zip(axes.flat, tasks):
        for alg, colour in colours.items():
            curves = groups.get((task, alg))
            if not curves:
                continue
            steps, centre, low, high = aggregate(curves, agg, window, name=f"{alg} on {task}")
            ax.plot(steps, centre, color=colour, label=f"{alg} ({len(curves)})", linewidth=1.6)
            ax.fill_between(steps, low, high, color=colour, alpha=0.2, linewidth=0)
        ax.set_title(task)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(FuncFormatter(step_label))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", title="alg (seeds)", title_fontsize="small")
    _title(fig, f"{metric}: {agg} over seeds, 95% bootstrap CI" + (f", smoothed over {window} points" if window > 1 else ""))
    return _save(fig, out)


def plot_profiles(groups: dict[tuple[str, str], list[Curve]], metric: str, out: Path) -> tuple[Path, Path]:
    """Draw each task's performance profiles of the final values and write the PNG and PDF."""
    output_paths(out)
    fig, axes, tasks, colours = _figure(groups)
    for ax, task in zip(axes.flat, tasks):
        scores = {alg: finals(curves) for (t, alg), curves in groups.items() if t == task}
        lo = min(float(s.min()) for s in scores.values())
        hi = max(float(s.max()) for s in scores.values())
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        taus = np.linspace(lo - pad, hi + pad, N_TAUS)
        for alg, (fraction, low, high) in performance_profile(scores, taus).items():
            ax.plot(taus, fraction, color=colours[alg], label=f"{alg} ({len(scores[alg])})", linewidth=1.6)
            ax.fill_between(taus, low, high, color=colours[alg], alpha=0.2, linewidth=0)
        ax.set_title(task)
        ax.set_xlabel(f"final {metric} (τ)")
        ax.set_ylabel("fraction of seeds > τ")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", title="alg (seeds)", title_fontsize="small")
    _title(fig, f"performance profiles of the final {metric} (rliable), 95% bootstrap CI")
    return _save(fig, out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="folder searched recursively for sacred run folders")
    parser.add_argument("--metric", default="test_return_mean")
    parser.add_argument("--out", type=Path, default=Path("results/plots/curves.png"),
                        help="PNG path of the curves; the PDF gets the same stem, the profiles the stem + _profile")
    parser.add_argument("--agg", choices=sorted(AGGREGATES), default="mean", help="centre line over seeds")
    parser.add_argument("--smooth", type=int, default=1, metavar="W", help="trailing moving average over W logged points")
    parser.add_argument("--algs", nargs="+", help="only these algorithms (config names or labels)")
    parser.add_argument("--tasks", nargs="+", help="only these tasks (map name, LBF key, scenario)")
    parser.add_argument("--split", nargs="+", default=[], metavar="KEY", help="config keys always shown in the labels, e.g. lr")
    parser.add_argument("--unfinished", action="store_true", help="also plot failed runs and runs that are still running or were interrupted")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smooth < 1:
        print(f"error: --smooth {args.smooth}: the window is a number of points, at least 1", file=sys.stderr)
        return 2
    try:
        loaded = load_groups(args.results, args.metric, tuple(args.split), args.unfinished)
        report(loaded)
        groups = select(loaded.curves, args.tasks, args.algs)
        written = [*plot(groups, args.metric, args.agg, args.smooth, args.out),
                   *plot_profiles(groups, args.metric, profile_path(args.out))]
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for (task, alg), curves in sorted(groups.items()):
        print(f"{task:<28} {alg:<24} seeds {len(curves)}: {', '.join(str(c.run.seed) for c in curves)}")
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

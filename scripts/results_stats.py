"""Statistics over seeds for plot.py and compare.py: AUC, IQM, smoothing, a common step grid, and a
percentile bootstrap (resampling seeds, separately within each stratum).

The IQM is the interquartile mean of rliable (Agarwal et al. 2021): the mean of the values left after
dropping the lowest and highest floor(n/4) of n. With fewer than 4 seeds it equals the mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def area_under_curve(steps: np.ndarray, values: np.ndarray) -> float:
    """Trapezoid area under values(steps) divided by the step span: the curve's average height, so
    runs of different lengths compare on the metric's own scale. A single point is its own value."""
    steps = np.asarray(steps, dtype=float)
    values = np.asarray(values, dtype=float)
    if len(steps) == 0:
        raise ValueError("area_under_curve needs at least one point, got an empty curve")
    span = steps[-1] - steps[0]
    if span <= 0:
        return float(values[-1])
    area = np.sum((steps[1:] - steps[:-1]) * (values[1:] + values[:-1]) / 2)
    return float(area / span)


def mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean along `axis`: the mean of the middle values after dropping floor(n/4) at each end."""
    x = np.sort(np.asarray(x, dtype=float), axis=axis)
    n = x.shape[axis]
    cut = n // 4
    return np.mean(np.take(x, np.arange(cut, n - cut), axis=axis), axis=axis)


AGGREGATES: dict[str, Callable[..., np.ndarray]] = {"mean": mean, "iqm": iqm}


def stratified_bootstrap_ci(
    strata: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of `statistic` over seeds.

    Each stratum is an array whose first axis is seeds (a trailing axis, e.g. steps of a curve, is kept).
    Every bootstrap sample draws, within each stratum, as many seeds as it has with replacement, joins
    the strata along the seed axis and applies `statistic(sample, axis=<seed axis>)`. Returns (low, high),
    shaped like one statistic value (a scalar for finals, one value per step for curves).
    """
    if not strata or any(len(s) == 0 for s in strata):
        raise ValueError(f"stratified_bootstrap_ci needs non-empty strata, got sizes {[len(s) for s in strata]}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    samples = []
    for stratum in strata:
        stratum = np.asarray(stratum, dtype=float)
        idx = rng.integers(0, len(stratum), size=(n_boot, len(stratum)))
        samples.append(stratum[idx])
    joined = np.concatenate(samples, axis=1)
    stats = statistic(joined, axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail], axis=0)
    return low, high


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over `window` points (fewer at the start); window 1 leaves the curve."""
    if window < 1:
        raise ValueError(f"smoothing window must be >= 1 point, got {window}")
    values = np.asarray(values, dtype=float)
    cumsum = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumsum[ends] - cumsum[starts]) / (ends - starts)


def common_grid(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Put seeds' curves, logged at slightly different steps, on one step grid by linear interpolation.

    The grid spans the steps every seed covers (latest first step to earliest last step) with as many
    points as the longest curve. Returns (grid, values of shape seeds x grid).
    """
    if not curves:
        raise ValueError("common_grid needs at least one curve")
    lo = max(float(steps[0]) for steps, _ in curves)
    hi = min(float(steps[-1]) for steps, _ in curves)
    if hi < lo:
        raise ValueError(f"the seeds' curves share no steps: they start as late as {lo:g} and end as early as {hi:g}")
    n_points = max(len(steps) for steps, _ in curves) if hi > lo else 1
    grid = np.linspace(lo, hi, n_points)
    return grid, np.stack([np.interp(grid, steps, values) for steps, values in curves])

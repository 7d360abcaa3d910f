"""Statistics over seeds for plot.py and compare.py, from rliable (Agarwal et al. 2021, "Deep RL at the
edge of the statistical precipice"): the IQM, stratified bootstrap intervals, the probability of
improvement and performance profiles; plus the AUC, smoothing and a common step grid, which rliable
does not provide.

Every bootstrap here resamples seeds with rliable's stratified bootstraps (`StratifiedBootstrap`,
`StratifiedIndependentBootstrap`). They draw from numpy's global generator, so each call seeds it and
puts its state back afterwards: the same table every time, and no effect on the caller's draws.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import scipy.stats
from rliable import library as rly
from rliable import metrics

N_BOOT = 2000  # rliable's default is 50000; 2000 gives the same intervals to about 2 decimals, 25x sooner


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
    """Interquartile mean along `axis`, rliable's `aggregate_iqm` (scipy's 25% trimmed mean): the mean of
    the values left after dropping floor(n/4) at each end. With fewer than 4 seeds it is the mean."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        return np.asarray(metrics.aggregate_iqm(x))
    return scipy.stats.trim_mean(x, proportiontocut=0.25, axis=axis)


AGGREGATES: dict[str, Callable[..., np.ndarray]] = {"mean": mean, "iqm": iqm}


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (rliable's bootstraps draw from it), restoring its state after."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def stratified_bootstrap_ci(
    strata: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    n_boot: int = N_BOOT,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of `statistic` over seeds, by rliable's stratified bootstrap.

    Each stratum is an array whose first axis is seeds, optionally with a second axis (e.g. the steps of
    a curve, shape seeds x steps; each step's interval is then its own). Every bootstrap sample draws,
    within each stratum, as many seeds as it has with replacement, joins the strata along the seed axis
    and applies `statistic(sample, axis=0)`. Returns (low, high), shaped like one statistic value (a
    scalar for finals, one value per step for curves).
    """
    if not strata or any(len(s) == 0 for s in strata):
        raise ValueError(f"stratified_bootstrap_ci needs non-empty strata, got sizes {[len(s) for s in strata]}")
    _check_confidence(confidence)
    # rliable's arrays are seeds x tasks (x ...): one "task" column per stratum.
    arrays = [np.asarray(s, dtype=float)[:, None] for s in strata]

    def joined_statistic(*samples: np.ndarray) -> np.ndarray:
        return np.atleast_1d(statistic(np.concatenate(samples, axis=0)[:, 0], axis=0))

    with _seeded(seed):
        _, intervals = rly.get_interval_estimates(
            {"x": arrays}, joined_statistic, reps=n_boot, confidence_interval_size=confidence)
    low, high = intervals["x"]
    return (low[0], high[0]) if arrays[0].ndim == 2 else (low, high)


def probability_of_improvement(
    x_by_task: Sequence[np.ndarray],
    y_by_task: Sequence[np.ndarray],
    n_boot: int = N_BOOT,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """P(X > Y) with its percentile interval: rliable's probability of improvement (the Mann-Whitney U
    statistic over X's and Y's seeds divided by n_x * n_y, ties counting one half) per task, averaged
    over the tasks; `x_by_task[i]` and `y_by_task[i]` are the two algorithms' per-seed scores on task i
    (seed counts may differ). The bootstrap resamples each algorithm's seeds on each task independently
    (rliable's `StratifiedIndependentBootstrap`). Returns (estimate, low, high)."""
    if len(x_by_task) != len(y_by_task) or not x_by_task:
        raise ValueError(f"probability_of_improvement needs the same tasks for X and Y, got {len(x_by_task)} and {len(y_by_task)}")
    _check_confidence(confidence)
    arrays = []
    for x, y in zip(x_by_task, y_by_task):
        if len(x) == 0 or len(y) == 0:
            raise ValueError(f"probability_of_improvement needs at least one seed of each, got {len(x)} and {len(y)}")
        arrays += [np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[:, None]]

    def mean_over_tasks(*samples: np.ndarray) -> np.ndarray:
        pairs = zip(samples[0::2], samples[1::2])
        return np.array([np.mean([metrics.probability_of_improvement(x, y) for x, y in pairs])])

    with _seeded(seed):
        estimates, intervals = rly.get_interval_estimates(
            {"poi": arrays}, mean_over_tasks, reps=n_boot, confidence_interval_size=confidence)
    low, high = intervals["poi"]
    return float(estimates["poi"][0]), float(low[0]), float(high[0])


def performance_profile(
    scores: dict[str, np.ndarray],
    taus: np.ndarray,
    n_boot: int = N_BOOT,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """rliable's performance profile (score distribution) on one task: for each algorithm, the fraction
    of its seeds whose score is above each tau, with its stratified-bootstrap interval. `scores` maps an
    algorithm to its per-seed scores. Returns {algorithm: (fraction, low, high)}, each shaped like taus."""
    _check_confidence(confidence)
    taus = np.asarray(taus, dtype=float)
    with _seeded(seed):
        profiles, intervals = rly.create_performance_profile(
            {alg: np.asarray(s, dtype=float)[:, None] for alg, s in scores.items()}, taus,
            reps=n_boot, confidence_interval_size=confidence)
    return {alg: (profiles[alg], intervals[alg][0], intervals[alg][1]) for alg in scores}


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

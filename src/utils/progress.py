"""The live progress line of a training run (tqdm): env steps of t_max, steps/s, ETA, and the latest test
return and win rate.

It is drawn on the terminal itself (`sys.__stderr__`), never into sacred's cout.txt, and only when that is
a terminal: in a log file the summaries every `log_interval` steps carry the same figures. Console log
lines clear the line, print, and redraw it (`paused_for_output`), so the two never mix.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from utils.timing import short_count

_LIVE: list[tqdm] = []  # the progress lines being drawn now (at most one per run)


@contextmanager
def paused_for_output() -> Iterator[None]:
    """Clear the live progress line (if any) for some output, and redraw it after."""
    for bar in _LIVE:
        bar.clear()
    try:
        yield
    finally:
        for bar in _LIVE:
            bar.refresh()


def latest_test_text(stats: dict[str, list[tuple[int, float]]]) -> str:
    """`test return 0.41 @5k, win rate 0.30`: the latest test return and win rate (where the env has one)
    and the step they were logged at; empty before the first test."""
    parts = []
    for key, name in (("test_return_mean", "test return"), ("test_battle_won_mean", "win rate")):
        if stats.get(key):
            t, value = stats[key][-1]
            parts.append(f"{name} {value:.3g}" + ("" if parts else f" @{short_count(t)}"))
    return ", ".join(parts)


class TrainingProgress:
    """A tqdm line from `t_start` to `t_max` env steps; `update(t_env, stats)` after each iteration."""

    def __init__(self, t_max: int, t_start: int, enabled: bool | None = None, stream: Any = None):
        stream = stream if stream is not None else sys.__stderr__
        if enabled is None:
            enabled = stream is not None and stream.isatty()
        self.bar = tqdm(
            total=t_max, initial=min(t_start, t_max), file=stream, disable=not enabled, desc="training",
            unit=" steps", unit_scale=True, dynamic_ncols=True, smoothing=0.1, mininterval=0.5, leave=False,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} env steps [{elapsed}<{remaining}, {rate_fmt}{postfix}]",
        )
        if enabled:
            _LIVE.append(self.bar)

    def update(self, t_env: int, stats: dict[str, list[tuple[int, float]]]) -> None:
        if self.bar.disable:
            return
        self.bar.set_postfix_str(latest_test_text(stats), refresh=False)
        self.bar.update(min(t_env, self.bar.total) - self.bar.n)

    def close(self) -> None:
        if self.bar in _LIVE:
            _LIVE.remove(self.bar)
        self.bar.close()

    def __enter__(self) -> TrainingProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

"""Metric logging to sacred (info.json and metrics.json), TensorBoard and the console."""

from __future__ import annotations

import logging
import math
import sys
from collections import defaultdict
from typing import Any

import numpy as np

from utils.progress import paused_for_output

RECENT = 5  # a summary's recent mean covers this many of a metric's latest logs (test metrics: 1)
IN_HEADER = ("episode", "steps_per_sec")  # shown in a summary's header line, not among the metrics
SHORT_RUN_SUMMARIES = 10  # console summaries of a run shorter than ten log intervals


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is now, so sacred's output capture (cout.txt) sees the log lines;
    a live progress line on the terminal is cleared first and redrawn after."""

    def write(self, text: str) -> int:
        with paused_for_output():
            written = sys.stderr.write(text)
            sys.stderr.flush()
        return written

    def flush(self) -> None:
        sys.stderr.flush()


def get_console_logger(name: str = "salemb") -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(_CurrentStderr())
        handler.setFormatter(logging.Formatter("[%(levelname)s %(asctime)s] %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def summary_interval(log_interval: int, t_max: int) -> int:
    """Env steps between console summaries: `log_interval`, or t_max / 10 (rounded up) where that is
    shorter, so a run shorter than the env's log interval (set for runs of millions of steps) still
    prints ten summaries. Only the console changes: the metrics are logged every `log_interval` steps
    whatever t_max is, so a run extended later (resume= with a larger t_max) logs as one run would."""
    return max(1, min(log_interval, math.ceil(t_max / SHORT_RUN_SUMMARIES)))


def _columns(items: list[str], per_line: int) -> list[str]:
    return ["   ".join(items[i : i + per_line]).rstrip() for i in range(0, len(items), per_line)]


class Logger:
    """`log_stat(key, value, t)` sends one scalar to every enabled sink.

    sacred: `_run.log_scalar` (metrics.json) and PyMARL's parallel lists `info[key]`, `info[key + "_T"]`.
    """

    def __init__(self, console_logger: logging.Logger):
        self.console_logger = console_logger
        self.use_tb = False
        self.use_sacred = False
        self.stats: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.sacred_keys: set[str] = set()
        self.tb_writer: Any = None
        self.sacred_run: Any = None
        self.sacred_info: dict[str, list] | None = None

    def setup_tb(self, directory: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.tb_writer = SummaryWriter(log_dir=directory)
        self.use_tb = True

    def setup_sacred(self, sacred_run: Any) -> None:
        self.sacred_run = sacred_run
        self.sacred_info = sacred_run.info
        self.use_sacred = True

    def log_stat(self, key: str, value: float, t: int, to_sacred: bool = True) -> None:
        value = float(value)
        t = int(t)
        self.stats[key].append((t, value))
        if to_sacred:
            self.sacred_keys.add(key)
        if self.use_tb:
            self.tb_writer.add_scalar(key, value, t)
        if self.use_sacred and to_sacred:
            self.sacred_info.setdefault(key, []).append(value)
            self.sacred_info.setdefault(key + "_T", []).append(t)
            self.sacred_run.log_scalar(key, value, t)

    def latest(self, key: str) -> float | None:
        return self.stats[key][-1][1] if self.stats.get(key) else None

    def print_recent_stats(self, t_env: int, episode: int, since: int) -> None:
        """Every metric's latest value and, in brackets, the mean of its last `RECENT` logs (test
        metrics: the latest alone), under a header line with t_env and the episode count; a value logged
        before step `since` (the previous summary) carries the step it was logged at."""
        lines = [f"Recent stats | t_env: {t_env:>10} | Episode: {episode:>8} | latest value (mean of the last {RECENT} logs)"]
        items = []
        for key in sorted(self.stats):
            if key in IN_HEADER or not self.stats[key]:
                continue
            t, latest = self.stats[key][-1]
            recent = "" if key.startswith("test_") else f"({np.mean([v for _, v in self.stats[key][-RECENT:]]):.4f})"
            logged_at = f" @{t}" if t < since else ""
            items.append(f"{key + ':':<24}{latest:>9.4f} {recent + logged_at:<18}")
        self.console_logger.info("\n".join(lines + _columns(items, 3)))

    def print_final_stats(self) -> None:
        """Every metric's final value and the t_env it was logged at."""
        items = [f"{key + ':':<24}{series[-1][1]:>9.4f} @{series[-1][0]:<10}"
                 for key, series in sorted(self.stats.items()) if series and key not in IN_HEADER]
        if items:
            self.console_logger.info("\n".join(["Final values (the last logged value of each metric, @ the t_env it was logged at)"]
                                               + _columns(items, 3)))

    def close(self) -> None:
        if self.tb_writer is not None:
            self.tb_writer.close()

    def state_dict(self) -> dict[str, Any]:
        return {"stats": {k: list(v) for k, v in self.stats.items()}, "sacred_keys": sorted(self.sacred_keys)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the history, and with it sacred's info.json lists (metrics.json is rebuilt on disk from
        the same history before the run starts, see `utils.resume.restore_metrics`)."""
        self.stats = defaultdict(list, {k: list(v) for k, v in state["stats"].items()})
        self.sacred_keys = set(state.get("sacred_keys", self.stats))
        if self.use_sacred:
            for key in self.sacred_keys:
                series = self.stats[key]
                self.sacred_info[key] = [v for _, v in series]
                self.sacred_info[key + "_T"] = [t for t, _ in series]

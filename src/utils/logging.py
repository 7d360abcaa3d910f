"""Metric logging to sacred (info.json and metrics.json), TensorBoard and the console."""

from __future__ import annotations

import logging
import sys
from collections import defaultdict
from typing import Any

import numpy as np


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is now, so sacred's output capture (cout.txt) sees the log lines."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

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

    def print_recent_stats(self) -> None:
        if "episode" not in self.stats:
            return
        t, episode = self.stats["episode"][-1]
        lines = [f"Recent stats | t_env: {t:>10} | Episode: {int(episode):>8}"]
        items = []
        for key in sorted(self.stats):
            if key == "episode":
                continue
            window = 1 if key.startswith("test_") else 5
            vals = [v for _, v in self.stats[key][-window:]]
            items.append(f"{key + ':':<26}{np.mean(vals):>10.4f}")
        for i in range(0, len(items), 4):
            lines.append("    ".join(items[i : i + 4]))
        self.console_logger.info("\n".join(lines))

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

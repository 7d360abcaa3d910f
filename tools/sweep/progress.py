"""The sweep's progress display on stderr: a line per finished run and a status line with counts and ETA.

On a terminal the status line is a live tqdm bar, redrawn in place (the lines of finished runs print
above it); elsewhere (a log file, CI) it is printed once at the start and after each finished run, so
the output stays readable.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Counts of done, failed, running and queued runs, and an ETA from the mean duration of the runs
    finished so far (the queued ones and the rest of the running ones, spread over the parallel slots)."""

    def __init__(self, total: int, jobs: int, skipped: int = 0, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, live: bool | None = None):
        self.total, self.jobs, self.skipped = total, jobs, skipped
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.live = self.stream.isatty() if live is None else live
        self.begin = clock()
        self.running: dict[str, float] = {}
        self.durations: list[float] = []
        self.done = self.failed = 0
        self._last = ""
        self._lock = threading.Lock()
        self.bar = tqdm(total=total, file=self.stream, disable=not self.live, dynamic_ncols=True,
                        bar_format="[sweep] {percentage:3.0f}%|{bar:20}| {desc}")

    @property
    def queued(self) -> int:
        return self.total - self.done - self.failed - len(self.running)

    def eta(self) -> float | None:
        """Seconds until the last run ends, or None before any run has finished."""
        if not self.durations:
            return None
        avg = sum(self.durations) / len(self.durations)
        now = self.clock()
        left = self.queued * avg + sum(max(avg - (now - t0), 0.0) for t0 in self.running.values())
        return left / max(1, min(self.jobs, self.queued + len(self.running)))

    def status_line(self) -> str:
        eta = self.eta()
        skipped = f" ({self.skipped} done before, skipped)" if self.skipped else ""
        return (f"[sweep] {self.done + self.failed}/{self.total} finished: {self.done} done, {self.failed} failed, "
                f"{len(self.running)} running, {self.queued} queued{skipped} | "
                f"{format_duration(self.clock() - self.begin)} elapsed, ETA {'?' if eta is None else format_duration(eta)}")

    def started(self, label: str) -> None:
        with self._lock:
            self.running[label] = self.clock()
            self._draw()

    def finished(self, label: str, code: int, log: str, seconds: float | None = None) -> None:
        """Count a finished run; `seconds` is its duration where the caller measured it (a Ray task),
        else the time since `started` (a run that was never shown as started counts as queued till now)."""
        with self._lock:
            start = self.running.pop(label, None)
            if seconds is None:
                seconds = self.clock() - (self.begin if start is None else start)
            self.durations.append(seconds)
            if code == 0:
                self.done += 1
                line = f"done   {label} ({format_duration(seconds)})"
            else:
                self.failed += 1
                line = f"FAILED {label} (exit {code} after {format_duration(seconds)}; log {log})"
            self._print(line)
            self._draw()

    def refresh(self) -> None:
        """Redraw the status line (on a terminal; elsewhere it waits for the next finished run)."""
        with self._lock:
            self._draw()

    def close(self) -> None:
        with self._lock:
            if self.live:
                self.bar.close()
                self.stream.write(self.status_line() + "\n")
                self.stream.flush()

    def _print(self, line: str) -> None:
        if self.live:
            self.bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
        self._last = ""

    def _draw(self) -> None:
        line = self.status_line()
        if self.live:
            self.bar.n = self.done + self.failed
            self.bar.set_description_str(line.removeprefix("[sweep] "))
        elif not self._last:
            self.stream.write(line + "\n")
        self._last = line
        self.stream.flush()

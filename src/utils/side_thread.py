"""A second thread for independent work inside one learner update (`parallel_learner`).

The target network's unroll does not depend on the online network's, so the two can run at once: torch
releases the GIL inside its kernels, and each thread runs its kernels with the same intra-op thread
count, so the numbers are exactly those of running them one after the other.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class SideThread:
    """`submit(fn, *args)` returns a Future: run on the side thread (named `name`) when enabled, else at
    once in this thread. One worker: calls run in the order they were submitted."""

    def __init__(self, enabled: bool, name: str = "learner-side"):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) if enabled else None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:  # re-raised by result(), as on the side thread
            done.set_exception(exc)
        return done


class SideThreads:
    """The run's side threads, owned by the loop (src/run.py) and lent to the learner: one lane (a
    `SideThread`) per name, made on its first use, so no learner builds a thread of its own. A learner
    built outside a run has none lent and runs everything in its own thread: the same numbers."""

    def __init__(self) -> None:
        self._lanes: dict[str, SideThread] = {}

    def lane(self, name: str, enabled: bool) -> SideThread:
        """The lane `name` (enabled as on its first request)."""
        if name not in self._lanes:
            self._lanes[name] = SideThread(enabled, name)
        return self._lanes[name]

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
    """`submit(fn, *args)` returns a Future: run on the side thread when enabled, else at once in this thread."""

    def __init__(self, enabled: bool):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="learner-side") if enabled else None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:  # re-raised by result(), as on the side thread
            done.set_exception(exc)
        return done

"""A second thread for independent work inside one learner update (`parallel_learner`).

The target network's unroll does not depend on the online network's, so the two can run at once: torch
releases the GIL inside its kernels, and each thread runs its kernels with the same intra-op thread
count, so the numbers are exactly those of running them one after the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

# the learner's lane for the parts of an update that need not run on its own thread (QLearner's target
# unroll, targets and loss, and its go-ahead), which the loop's thread may serve (`SideThread.serve_first`)
LEARNER_LANE = "learner-side"


def _run_into(done: Future, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """`fn(*args)`'s result, or its exception, into `done` (re-raised by `result()`)."""
    try:
        done.set_result(fn(*args))
    except BaseException as exc:
        done.set_exception(exc)


class SideThread:
    """`submit(fn, *args)` returns a Future: run on the side thread (named `name`) when enabled, else at
    once in this thread. One worker: calls run in the order they were submitted.

    `serve_first(start, calls)` lends the lane the calling thread instead: the first calls the work it
    starts submits run there (see its doc), later ones on the side thread as usual."""

    def __init__(self, enabled: bool, name: str = LEARNER_LANE):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) if enabled else None
        self._served = threading.Condition()
        self._handed: list[tuple[Callable[..., Any], tuple[Any, ...], Future]] | None = None  # while serving

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        with self._served:
            if self._handed is not None:  # a thread waits in `serve_first` for this call
                handed: Future = Future()
                self._handed.append((fn, args, handed))
                self._served.notify_all()
                return handed
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        done: Future = Future()
        _run_into(done, fn, args)
        return done

    def serve_first(self, start: Callable[[], Future], calls: int = 1) -> Future:
        """Start some work (`start()` returns its Future) and run here, in this thread, the first `calls`
        calls it submits to this enabled lane, as they come; return the work's Future then, or once the
        work is done before them. The update prepared ahead (`learn_ahead`) submits its target unroll, its
        targets, its loss and a go-ahead (`QLearner.lane_calls_ahead`) to the learner's lane: the loop's
        thread runs them before it collects, while the learn-ahead thread unrolls the online network and
        mixes its Q-values, instead of a third busy thread beside those two on two cores, and it collects
        only once the learn-ahead thread's backward pass needs the GIL little. Which thread runs a call
        changes none of its numbers."""
        if self._pool is None:
            return start()
        with self._served:
            self._handed = []
        try:
            until = start()
            until.add_done_callback(self._wake)
            while calls > 0:
                with self._served:
                    while not self._handed and not until.done():
                        self._served.wait()
                    taken = self._handed[:calls]
                    del self._handed[:calls]
                if not taken:  # the work ended first
                    break
                for fn, args, done in taken:
                    _run_into(done, fn, args)
                calls -= len(taken)
        finally:  # later calls, and any handed here but not run (e.g. Ctrl-C while waiting): the lane's thread
            with self._served:
                left, self._handed = self._handed, None
            for fn, args, done in left:
                self._pool.submit(_run_into, done, fn, args)
        return until

    def _wake(self, _: Future) -> None:
        with self._served:
            self._served.notify_all()


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

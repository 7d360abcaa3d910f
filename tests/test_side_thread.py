"""`let_side_threads_run`: a loop holding the GIL lets a waiting side thread run at each call."""

from __future__ import annotations

import select
import sys
import threading

from utils.side_thread import let_side_threads_run


def side_progress(call_between: bool, iterations: int = 2000) -> int:
    """Steps a side thread makes (each releases the GIL once) while this thread runs `iterations` steps
    of pure Python, with `let_side_threads_run` between them or not; the switch interval is 10 s, so
    the interpreter forces no switch meanwhile."""
    count, stop = [0], threading.Event()

    def side() -> None:
        while not stop.is_set():
            count[0] += 1
            select.select([], [], [], 0)

    old = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    thread = threading.Thread(target=side)
    try:
        thread.start()
        while count[0] == 0:  # the side thread is running and now waits for the GIL at each of its steps
            let_side_threads_run()
        start = count[0]
        for i in range(iterations):
            sum(range(50))
            if call_between:
                let_side_threads_run()
        progress = count[0] - start
    finally:
        stop.set()
        sys.setswitchinterval(old)
        thread.join()
    return progress


def test_a_side_thread_runs_at_each_release_and_not_without():
    assert side_progress(call_between=True) >= 1000
    assert side_progress(call_between=False) <= 5

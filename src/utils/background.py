"""One function call at a time on a background thread, with its exception re-raised on `join`.

Used by `overlap_learning`: the learner update runs while the runner collects the next episodes. torch
releases the GIL inside its kernels, so on a multi-core CPU the two really run at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class BackgroundCall:
    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, fn: Callable[[], Any]) -> None:
        """Run `fn()` on a new thread; the previous call must have been joined."""
        if self._thread is not None:
            raise RuntimeError("BackgroundCall.start: the previous call has not been joined")

        def target() -> None:
            try:
                fn()
            except BaseException as exc:  # handed to the caller in join()
                self._error = exc

        self._thread = threading.Thread(target=target, name="learner", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Wait for the running call (if any) to end, leaving its exception for `join`."""
        if self._thread is not None:
            self._thread.join()

    def join(self) -> None:
        """Wait for the running call (if any) and re-raise its exception in this thread."""
        if self._thread is None:
            return
        self._thread.join()
        self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error

"""Keep Python's garbage collector off the objects that last a whole run.

Start-up (the imports of torch, sacred and the env, the config, the run's parts) makes ~330k objects for
QMIX on LBF, and they live until the process ends. As they accumulated, the collector's full passes scanned
them all, five times (20-150 ms each, ~0.45 s in all), and once more at interpreter exit (~0.2 s). Nothing a
run computes depends on when the collector runs.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the block (start-up), back as it was after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Every object tracked now moved to the collector's permanent generation for the block (the training
    loop), and back after it; objects made inside the block are collected as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()

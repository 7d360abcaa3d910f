"""glibc malloc settings for a training process: keep freed memory for reuse instead of giving it back.

Every learner update allocates and frees the same large tensors (activations of `[batch * agents * time,
hidden]`, a few MiB each, many alive at once until the backward pass). With glibc's defaults a freed
block above the adaptive mmap threshold is unmapped, and free memory at the top of the heap above the
trim threshold is returned to the OS, so the next update touches fresh pages that the kernel must fault
in and zero: salemb's LBF update took about 12k minor page faults, a tenth of its CPU time. Raising both
thresholds keeps that memory in the process; the arithmetic, and so every number, is unchanged. The
cost is that the process keeps its peak heap instead of shrinking between updates.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit; larger blocks (the replay buffer) are still mapped
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (and the processes it forks later).
    Returns False, changing nothing, where the C library is not glibc (macOS, musl) or refuses a value."""
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))

"""keep_freed_memory: an update-like loop stops page-faulting, and prepare_args applies it only when asked."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import run
from utils.logging import get_console_logger
from utils.malloc_tuning import keep_freed_memory

# forward and backward of an MLP on 8192 rows, as a learner update does: many MiB-sized activations alive
# until the backward pass frees them; prints the minor page faults of 20 such steps after 3 warm-up steps
UPDATE_LOOP = textwrap.dedent("""
    import resource, sys, torch
    from utils.malloc_tuning import keep_freed_memory
    torch.set_num_threads(1)
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    torch.manual_seed(0)
    net = torch.nn.Sequential(*[m for _ in range(6) for m in (torch.nn.Linear(64, 64), torch.nn.ELU())])
    x = torch.randn(8192, 64)
    def step():
        net(x).square().mean().backward()
    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's thresholds are glibc's")


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", UPDATE_LOOP, mode], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@glibc_only
def test_kept_memory_is_reused_instead_of_faulted_in_again() -> None:
    # the fewest of three runs: with other jobs pressing on memory the kernel may reclaim kept pages and
    # fault them in again (one CI run beside a 6 GB job counted 2562 kept against 8481 default faults)
    default, kept = _faults("default"), min(_faults("keep") for _ in range(3))
    assert default > 2000, f"glibc's defaults should give the loop fresh pages each step, got {default} faults"
    assert kept * 4 < default, f"with kept memory {kept} faults, without {default}"


@glibc_only
def test_keep_freed_memory_reports_that_it_applied() -> None:
    assert keep_freed_memory() is True


@pytest.mark.parametrize("enabled", [True, False])
def test_prepare_args_applies_it_only_when_the_key_is_true(enabled: bool, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(run, "keep_freed_memory", lambda: calls.append(1) or True)
    config = {"use_cuda": False, "torch_threads": 1, "seed": 1, "keep_freed_memory": enabled}
    run.prepare_args(config, get_console_logger(), str(tmp_path), "tok")
    assert calls == ([1] if enabled else [])

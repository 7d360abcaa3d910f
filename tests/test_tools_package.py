"""The tools package as pyproject.toml installs it: every console command names a callable, and
`python -m tools.sweep` runs the sweep's command line."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_console_command_names_a_callable() -> None:
    tomllib = pytest.importorskip("tomllib")
    commands = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "marl-sweep" in commands
    for name, target in commands.items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function, None)), f"{name} = {target!r}: no such function"


def test_the_sweep_runs_as_a_module_from_any_folder(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tools.sweep", "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout and "--configs" in done.stdout

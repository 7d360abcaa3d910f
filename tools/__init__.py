"""The tools around the framework in src/: sweeps of training runs (`tools.sweep`), reading, plotting and
comparing their results (`tools.analysis`), the learning checks and experiments (`tools.checks`), and the
speed and crash benchmarks (`tools.bench`).

`pip install -e .` (pyproject.toml) makes them importable beside src/'s modules. Each tool runs as
`python -m tools.<package>.<module>` (the sweep: `python -m tools.sweep`) or by its console name
(pyproject.toml's `[project.scripts]`, e.g. `marl-sweep`).
"""

from pathlib import Path

# The checkout the tools belong to: its src/main.py trains the runs, results/ and docs/data/ hold their output.
ROOT = Path(__file__).resolve().parents[1]

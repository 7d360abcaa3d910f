"""What a sweep has left to do: each grid point is matched against the sacred runs already in its output
folder by its full config (config.json), and their run.json status decides.

- a matching COMPLETED run: the point is done and skipped;
- else a matching run that stopped without finishing (status RUNNING after a kill, INTERRUPTED,
  TIMED_OUT) and left a complete checkpoint: it is resumed in place (`src/main.py with resume=<dir>`);
- else the point runs afresh (after a FAILED run, or an interrupted one with no checkpoint).

Matching on the full config, not only on the swept keys, means a run made with other settings (say an
older sweep with lr=0.01) never stands in for this grid point; a dry run shows how the closest existing
run differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.analysis.results_io import COMPLETED, RunRecord, iter_runs, task_name
from tools.sweep.grid import ConfigCache, RunSpec

UNFINISHED = ("RUNNING", "INTERRUPTED", "TIMED_OUT", "QUEUED")
# Keys that differ between runs of one grid point without changing what is trained.
IGNORED = ("local_results_path",)
# Set in config.json by a resumed run.
RESUME_KEYS = ("resume", "checkpoint_path", "load_step", "evaluate")


def config_differences(expected: dict[str, Any], actual: dict[str, Any], prefix: str = "") -> list[str]:
    """`key: grid X, run Y` for each key of `expected` whose value `actual` does not share (nested dicts
    compared key by key; keys only `actual` has, e.g. from a newer version of the code, are ignored)."""
    diffs = []
    for key, want in expected.items():
        name = prefix + key
        if key not in actual:
            diffs.append(f"{name}: grid {want!r}, run has no such key")
        elif isinstance(want, dict) and isinstance(actual[key], dict):
            diffs.extend(config_differences(want, actual[key], name + "."))
        elif want != actual[key]:
            diffs.append(f"{name}: grid {want!r}, run {actual[key]!r}")
    return diffs


def run_matches(expected: dict[str, Any], run: RunRecord) -> list[str]:
    """Differences between a grid point's expected config and a run's saved one (empty: it is that point)."""
    ignored = IGNORED + (RESUME_KEYS if run.config.get("resume") else ())
    want = {k: v for k, v in expected.items() if k not in ignored}
    return config_differences(want, run.config)


def has_checkpoint(run: RunRecord) -> bool:
    """Whether the run recorded a checkpoint folder holding at least one complete checkpoint. The folder is
    read as `resume=` reads it (the run's own record, written at its start), not from info.json, which
    sacred flushes only every few seconds and a run killed early may not have written."""
    from utils.checkpoint import list_checkpoints
    from utils.resume import recorded_model_dir

    model_dir = recorded_model_dir(str(run.path))
    return bool(model_dir) and bool(list_checkpoints(model_dir))


@dataclass
class Plan:
    """What to do for one grid point, and why."""

    spec: RunSpec
    action: str  # skip | resume | rerun | new
    run: RunRecord | None = None  # the run that is skipped, resumed, or replaced
    closest: list[str] = field(default_factory=list)  # for new points: how the nearest run differs

    def describe(self) -> str:
        if self.action == "skip":
            return f"done ({self.run.path})"
        if self.action == "resume":
            return f"resume: {self.run.status} with a checkpoint ({self.run.path})"
        if self.action == "rerun":
            return f"rerun: {self.run.status} before ({self.run.path})"
        if self.closest:
            return "new; a run with this alg, task and seed differs in " + "; ".join(self.closest[:3])
        return "new"


def plan(specs: list[RunSpec], out: Path, cache: ConfigCache) -> list[Plan]:
    """One Plan per grid point, from the runs under `<out>/sacred`."""
    existing: dict[tuple[str, str, Any], list[RunRecord]] = {}
    sacred = Path(out) / "sacred"
    if sacred.is_dir():
        for run in iter_runs(sacred):
            existing.setdefault((run.alg, run.task, run.seed), []).append(run)
    plans = []
    for spec in specs:
        expected = cache.expected(spec)
        candidates = existing.get((expected["name"], task_name(expected["env_args"]), spec.seed), [])
        diffs = {id(run): run_matches(expected, run) for run in candidates}
        matching = sorted((r for r in candidates if not diffs[id(r)]), key=lambda r: r.start_time, reverse=True)
        done = [r for r in matching if r.status == COMPLETED]
        resumable = [r for r in matching if r.status in UNFINISHED and has_checkpoint(r)]
        if done:
            plans.append(Plan(spec, "skip", done[0]))
        elif resumable:
            plans.append(Plan(spec, "resume", resumable[0]))
        elif matching:
            plans.append(Plan(spec, "rerun", matching[0]))
        else:
            nearest = min(candidates, key=lambda r: len(diffs[id(r)]), default=None)
            plans.append(Plan(spec, "new", closest=diffs[id(nearest)] if nearest else []))
    return plans

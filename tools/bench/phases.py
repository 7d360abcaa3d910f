"""Where a whole training process's wall-clock goes: start-up, building the run, collection, tests,
learning and the rest, for one `src/main.py` run in this process.

    python -m tools.bench.phases                                     # EPyMARL's QMIX settings, 30k steps
    python -m tools.bench.phases with act_backend=numpy
    python -m tools.bench.phases --config vdn --env-config lbf with env_args.key=Foraging-8x8-2p-3f-v3

The run is `src/main.py`'s own (`main.main`), with timers around the loop's parts: `Experiment.__init__`
(the runner, buffer, learner and optimisers), `runner.run` in training and in test mode, and
`UpdateSchedule.learn_after_collection` (the updates after each collection; with `learn_ahead` most of an
update was computed during the collection before it and only its end is counted here). "start-up" is
everything before the experiment is built (imports, config, sacred); "other" is the rest of the loop
(inserts, logging, saving) and the end of the run. Without `--config`, the run `tools.bench.vs_epymarl` times on our side
(`our_settings`: EPyMARL's QMIX settings on `Foraging-8x8-2p-2f-coop-v3`, 30k steps, seed 1).
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import time
from collections.abc import Callable
from typing import Any

START = time.perf_counter()  # before the framework's imports (torch's among them), which start-up counts

import main as train_main  # noqa: E402
from components.update_schedule import UpdateSchedule  # noqa: E402
from run import Experiment  # noqa: E402
from runners import REGISTRY as runner_REGISTRY  # noqa: E402
from tools.bench.vs_epymarl import our_settings  # noqa: E402
from utils.config_loader import split_with  # noqa: E402


class PhaseTimer:
    """Wall-clock seconds and calls per phase, gathered by wrapping methods (`wrap`); as a context manager
    it puts the wrapped methods back on exit."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self._wrapped: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> PhaseTimer:
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, method in reversed(self._wrapped):
            setattr(owner, name, method)
        self._wrapped.clear()

    def wrap(self, owner: Any, name: str, phase: Callable[..., str]) -> None:
        """Time `owner.name` under the phase `phase(*args, **kwargs)` names."""
        method = getattr(owner, name)
        self._wrapped.append((owner, name, method))

        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                key = phase(*args, **kwargs)
                self.seconds[key] += time.perf_counter() - start
                self.calls[key] += 1

        setattr(owner, name, timed)


def runner_phase(_runner: Any, test_mode: bool = False) -> str:
    return "tests" if test_mode else "collection"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="an algorithm config (default: qmix with EPyMARL's settings)")
    parser.add_argument("--env-config", default="lbf")
    argv, overrides = split_with(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    settings = overrides if args.config else [*our_settings("Foraging-8x8-2p-2f-coop-v3", 30_000, 1), *overrides]
    with PhaseTimer() as timer:
        timer.wrap(Experiment, "__init__", lambda *a, **k: "building the run")
        for runner_class in {cls for cls in runner_REGISTRY.values() if "run" in vars(cls)}:
            timer.wrap(runner_class, "run", runner_phase)
        timer.wrap(UpdateSchedule, "learn_after_collection", lambda *a, **k: "learning")
        status = train_main.main([f"--config={args.config or 'qmix'}", f"--env-config={args.env_config}", "with", *settings])
    total = time.perf_counter() - START
    if status:
        return status
    rows = [("whole process", total, None), *((k, v, timer.calls[k]) for k, v in timer.seconds.most_common()),
            ("start-up and other", total - sum(timer.seconds.values()), None)]
    print(f"\n{'phase':20s} {'seconds':>8s} {'share':>6s} {'calls':>6s}")
    for name, seconds, calls in rows:
        print(f"{name:20s} {seconds:8.2f} {seconds / total:6.1%} {'' if calls is None else calls:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

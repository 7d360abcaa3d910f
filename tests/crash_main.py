"""`src/main.py` with a hang at a chosen point, so a test can SIGKILL the run exactly there.

    python tests/crash_main.py --hang collect|learn|save --at N --ready FILE -- <main.py arguments>

The run is the one main.py would run (same config, same numbers) until the N-th env step (collect), the
N-th learner update (learn: after the forward pass, before any gradient) or the N-th checkpoint (save:
after every file of it is written into the temporary folder, before the rename). There it creates FILE
and sleeps until it is killed. The hooks wrap registry entries and one function from outside, so
nothing in src/ knows about them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import envs
import learners
import main
import utils.checkpoint


def hang(ready: str) -> None:
    Path(ready).touch()
    while True:
        time.sleep(60)


class Countdown:
    def __init__(self, at: int, ready: str):
        self.left = at
        self.ready = ready

    def tick(self) -> None:
        self.left -= 1
        if self.left == 0:
            hang(self.ready)


def hang_in_collection(countdown: Countdown) -> None:
    for name, make in list(envs.REGISTRY.items()):
        def make_counting(_make: Any = make, **kwargs: Any) -> Any:
            env = _make(**kwargs)
            step = env.step

            def counted_step(actions: Any) -> Any:
                countdown.tick()
                return step(actions)

            env.step = counted_step
            return env

        envs.REGISTRY[name] = make_counting


def hang_in_learning(countdown: Countdown) -> None:
    for name, cls in list(learners.REGISTRY.items()):
        class Hanging(cls):  # type: ignore[misc, valid-type]
            def train(self, *args: Any, **kwargs: Any) -> Any:
                self._hang_now = countdown.left == 1
                countdown.left -= 1
                return super().train(*args, **kwargs)

            def td_loss(self, *args: Any, **kwargs: Any) -> Any:
                out = super().td_loss(*args, **kwargs)
                if getattr(self, "_hang_now", False):
                    hang(countdown.ready)
                return out

        learners.REGISTRY[name] = Hanging


class HangWhenSaved:
    """An extra checkpoint file whose pickling hangs: the other files are on disk, the rename is not."""

    def __init__(self, ready: str):
        self.ready = ready

    def __reduce__(self) -> Any:
        hang(self.ready)


def hang_in_saving(countdown: Countdown) -> None:
    save = utils.checkpoint.save_checkpoint

    def counted_save(root: str, t_env: int, files: dict[str, Any], keep: int = 0) -> str:
        countdown.left -= 1
        if countdown.left == 0:
            files = {**files, "zz_hang.th": HangWhenSaved(countdown.ready)}
        return save(root, t_env, files, keep=keep)

    utils.checkpoint.save_checkpoint = counted_save


HOOKS = {"collect": hang_in_collection, "learn": hang_in_learning, "save": hang_in_saving}


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    split = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hang", choices=sorted(HOOKS), required=True)
    parser.add_argument("--at", type=int, required=True)
    parser.add_argument("--ready", required=True)
    return parser.parse_args(argv[:split]), argv[split + 1 :]


if __name__ == "__main__":
    opts, main_argv = parse(sys.argv[1:])
    HOOKS[opts.hang](Countdown(opts.at, opts.ready))
    sys.exit(main.main(main_argv))

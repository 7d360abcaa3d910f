"""`evaluate=True`: test episodes only, from a loaded checkpoint, with an optional GIF and replay."""

from __future__ import annotations

import os
from typing import Any

from utils.logging import Logger
from utils.render import save_gif


def test_rounds(test_nepisode: int, batch_size_run: int) -> int:
    """Runner calls that play at least `test_nepisode` test episodes (at least one call): with 50 episodes
    asked from 4 envs, 13 calls; 12 would play 48, fewer than the runner waits for before it logs."""
    return max(1, -(-test_nepisode // batch_size_run))


def evaluate(args: Any, runner: Any, logger: Logger) -> None:
    """Play `test_nepisode` greedy episodes and print the test metrics. With `render`, env 0's first episode
    is saved as a GIF under `results/renders/`; with `save_replay`, the env's replay (SC2)."""
    console = logger.console_logger
    if args.render:
        runner.envs.call(0, "start_recording")
    for i in range(test_rounds(args.test_nepisode, runner.batch_size)):
        runner.run(test_mode=True)
        if i == 0 and args.render:
            frames = runner.envs.call(0, "stop_recording")
            path = os.path.join(args.results_dir, "renders", f"{args.unique_token}.gif")
            save_gif(frames, path)
            console.info(f"Saved {len(frames)} frames of the first test episode to {path}")
    if args.save_replay:
        runner.save_replay()
    summary = {k: v[-1][1] for k, v in logger.stats.items() if k.startswith("test_")}
    console.info("Evaluation: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(summary.items())))

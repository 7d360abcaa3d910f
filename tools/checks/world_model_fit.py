"""Fit salemb's world model on fixed episodes and print its held-out prediction error as it trains.

    python -m tools.checks.world_model_fit --env-config lbf with env_args.key=Foraging-8x8-2p-3f-v3 world_model=step_vae
    python -m tools.checks.world_model_fit --env-config smax --episodes 1000 --steps 3000 with env_args.map_name=3m
    python -m tools.checks.world_model_fit --env-config lbf --compare wm_change_gate=True wm_change_gate=False

Episodes come from the runner with uniformly random available actions (epsilon 1): `--episodes` for
training (the replay buffer) and `--held-out` more that the model never trains on. The world model, its
optimiser and its windows are the salemb learner's own (`wm_batch_size` windows of `wm_window` steps per
step). At each of `--checks` points it prints the H-step (`imagine_horizon`) errors on the held-out
episodes as ratios: observations / copy-last, the observation elements that changed / copy-last, state /
copy-last, reward / predict-zero, termination / predict-zero (below 1: better than the baseline), and
world-model steps per second. With `--compare`, each argument is a `key=value` set (comma-joined for
several keys) tried on the same episodes, one after the other.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import torch

from modules.world_models.rollout_eval import add_sums, finish_rollout_error, rollout_error_sums
from run import Experiment, prepare_args
from utils.config_checks import coerce_and_validate
from utils.config_loader import build_config, split_with
from utils.logging import Logger, get_console_logger

RATIOS = [
    ("obs", "obs_mse", "obs_mse_copy_last"),
    ("changed", "obs_changed_mse", "obs_changed_mse_copy_last"),
    ("state", "state_mse", "state_mse_copy_last"),
    ("reward", "reward_mse", "reward_mse_zero"),
    ("term", "term_mse", "term_mse_zero"),
]


def make_experiment(env: str, overrides: list[str], episodes: int) -> Experiment:
    quiet = [f"{k}=1000000000" for k in ("test_interval", "log_interval", "runner_log_interval", "learner_log_interval")]
    fixed = ["save_model=False", "use_tensorboard=False", "epsilon_start=1.0", "epsilon_finish=1.0", f"buffer_size={episodes}"]
    config = coerce_and_validate(build_config("salemb", env, quiet + overrides + fixed))
    if config["seed"] is None:
        config["seed"] = 1
    config["env_args"]["seed"] = config["seed"]
    console = get_console_logger("world_model_fit")
    console.setLevel("WARNING")
    return Experiment(prepare_args(config, console, "/tmp/world_model_fit", "fit"), Logger(console))


def collect(exp: Experiment, episodes: int) -> list[Any]:
    batches, n = [], 0
    while n < episodes:
        with torch.no_grad():
            batch = exp.runner.run(test_mode=False)
        batches.append(batch)
        n += batch.batch_size
    return batches


def held_out_errors(model: Any, batches: list[Any], horizon: int) -> dict[str, float]:
    pool = None
    for batch in batches:
        pool = add_sums(pool, rollout_error_sums(model, batch, horizon))
    return finish_rollout_error(pool)


def fit(exp: Experiment, held_out: list[Any], steps: int, checks: int, label: str) -> None:
    args, learner = exp.args, exp.learner
    model = learner.world_model
    marks = {round(steps * (i + 1) / checks) for i in range(checks)}
    elapsed = 0.0
    for step in range(1, steps + 1):
        start = time.perf_counter()
        learner.model_part.step(exp.buffer.sample_windows(args.wm_batch_size, args.wm_window), step)
        elapsed += time.perf_counter() - start
        if step in marks:
            errors = held_out_errors(model, held_out, args.imagine_horizon)
            ratios = "  ".join(f"{name} {errors[a] / errors[b]:.3f}" if errors[b] > 0 else f"{name} -" for name, a, b in RATIOS)
            print(f"{label:<28} step {step:>6}  {ratios}  ({step / elapsed:.1f} steps/s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv, overrides = split_with(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-config", default="lbf")
    parser.add_argument("--episodes", type=int, default=2000, help="training episodes (random actions)")
    parser.add_argument("--held-out", type=int, default=200, help="episodes the model never trains on")
    parser.add_argument("--steps", type=int, default=2000, help="world-model steps")
    parser.add_argument("--checks", type=int, default=4, help="how many times to print the held-out errors")
    parser.add_argument("--compare", nargs="+", default=[""], metavar="KEY=V[,KEY=V]", help="variants tried on the same episodes")
    opts = parser.parse_args(argv)
    data_exp = make_experiment(opts.env_config, overrides, opts.episodes)
    try:
        for batch in collect(data_exp, opts.episodes):
            data_exp.buffer.insert_episode_batch(batch)
        held_out = collect(data_exp, opts.held_out)
    finally:
        data_exp.runner.close_env()
    for variant in opts.compare:
        extra = [kv for kv in variant.split(",") if kv]
        torch.manual_seed(0)
        exp = make_experiment(opts.env_config, overrides + extra, opts.episodes)
        exp.runner.close_env()
        exp.buffer = data_exp.buffer
        fit(exp, held_out, opts.steps, opts.checks, variant or "(defaults)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

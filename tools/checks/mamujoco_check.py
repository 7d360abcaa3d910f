"""Multi-Agent MuJoCo check: facmac, facmac_vdn and salemb trained on one task (HalfCheetah 2x3 by default)
for a number of env steps and seeds, their test returns printed next to a uniformly random policy's.

    python -m tools.checks.mamujoco_check --t-max 100000 --seeds 1 2        # the full check (hours on a CPU)
    python -m tools.checks.mamujoco_check --t-max 2000 --seeds 1 with start_steps=500 env_args.max_episode_steps=200
    python -m tools.checks.mamujoco_check --out results/mamujoco_check --table-only   # re-print from the folders

The runs go through the sweep (each its own process, its console output in <out>/logs/; started again
with the same --out, the check skips the runs that completed there); every figure is read back from the
sacred run folders under <out>. Per run: final and best test return, AUC, steps/s (the run's last logged rate)
and wall-clock per 10k env steps; per algorithm the mean, and a verdict against the random policy: a run
beats it when its final test return is above the random mean by more than 3 random-episode standard
deviations. `with k=v ...` overrides go to every run and to the random policy's env.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from components.action_spaces import BoxActions
from envs import REGISTRY as env_REGISTRY
from main import prepare_config
from tools import ROOT
from tools.checks.runs import collect, mean, print_table, sweep_argv
from tools.sweep.cli import run_sweeps
from utils.config_loader import split_with

ALGS = ["facmac", "facmac_vdn", "salemb"]


def task_overrides(opts: argparse.Namespace, extra: list[str]) -> list[str]:
    return [f"env_args.scenario={opts.scenario}", f"env_args.agent_conf={opts.agent_conf}", *extra]


def random_policy(opts: argparse.Namespace, extra: list[str]) -> tuple[float, float, float]:
    """Mean and std of the returns of `opts.random_episodes` episodes with uniformly random actions in
    each agent's Box (the task's env_args, seed 0), and the env's steps/s meanwhile."""
    config = prepare_config(["--config=facmac", "--env-config=mamujoco", "with", "seed=0", *task_overrides(opts, extra)])
    env = env_REGISTRY[config["env"]](**config["env_args"])
    box = BoxActions.from_spaces(env.get_env_info()["action_spaces"])
    rng = np.random.default_rng(0)
    returns, steps, start = [], 0, time.perf_counter()
    for _ in range(opts.random_episodes):
        env.reset()
        total, done = 0.0, False
        while not done:
            reward, done, _ = env.step(box.sample(rng))
            total += reward
            steps += 1
        returns.append(total)
    rate = steps / (time.perf_counter() - start)
    env.close()
    return float(np.mean(returns)), float(np.std(returns)), rate


def verdicts(rows: dict[tuple[str, str], list[dict[str, Any]]], random_mean: float, random_std: float) -> None:
    threshold = random_mean + 3 * random_std
    print(f"\nrandom policy: {random_mean:.1f} +- {random_std:.1f} per episode; a run beats it above {threshold:.1f}")
    finals: dict[str, float] = {}
    for (alg, _), runs in sorted(rows.items()):
        beaten = sum(r["final"] > threshold for r in runs)
        finals[alg] = mean([r["final"] for r in runs])
        print(f"  {alg:<11} mean final {finals[alg]:>9.1f}  beats random in {beaten}/{len(runs)} seeds")
    if "salemb" in finals and "facmac" in finals:
        print(f"  salemb - facmac (mean final): {finals['salemb'] - finals['facmac']:+.1f}")


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    argv, extra = split_with(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--t-max", type=int, default=100_000, help="env steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--algs", nargs="+", default=ALGS)
    parser.add_argument("--scenario", default="HalfCheetah")
    parser.add_argument("--agent-conf", default="2x3")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (each is one process)")
    parser.add_argument("--test-episodes", type=int, default=10, help="test episodes per evaluation")
    parser.add_argument("--random-episodes", type=int, default=10, help="episodes of the random policy")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "mamujoco_check", help="results folder")
    parser.add_argument("--table-only", action="store_true", help="only print the table of the runs under --out")
    return parser.parse_args(argv), extra


def main(argv: list[str] | None = None) -> int:
    """Run what is missing of the grid (unless --table-only), print the table and the verdicts; returns the
    sweep's exit code (1 or the sweep's when no run completed)."""
    opts, extra = parse(sys.argv[1:] if argv is None else argv)
    code = 0
    if not opts.table_only:
        sweep = sweep_argv(opts.algs, "mamujoco", [], opts.seeds, opts.t_max, 20, opts.jobs, opts.out,
                           [f"test_nepisode={opts.test_episodes}", *task_overrides(opts, extra)])
        code = run_sweeps([(f"{opts.scenario} {opts.agent_conf}, {opts.t_max} env steps", sweep)])
    rows = collect(opts.out)
    if not rows:
        print(f"no completed runs under {opts.out}", file=sys.stderr)
        return code or 1
    print()
    print_table(rows)
    random_mean, random_std, env_rate = random_policy(opts, extra)
    verdicts(rows, random_mean, random_std)
    print(f"env alone (random actions): {env_rate:.0f} steps/s")
    return code


if __name__ == "__main__":
    sys.exit(main())

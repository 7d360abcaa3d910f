"""Speed benchmark: where the time of a training run goes, measured in one process.

    python -m tools.bench.speed --config qmix --env-config lbf with env_args.key=Foraging-8x8-2p-2f-coop-v3
    python -m tools.bench.speed --config qmix --compare salemb --env-config lbf      # alternate A/B, print ratios
    python -m tools.bench.speed --config qmix --env-config lbf --profile             # top costs of training
    python -m tools.bench.speed --config salemb --env-config lbf --profile cumulative  # ... by cumulative time
    python -m tools.bench.speed --config qmix --env-config lbf --epymarl              # EPyMARL's QMIX settings

Phases (each measured after its own warm-up):
  raw env    LBF only: the gymnasium env itself (`gym.make` of the task), uniformly random actions (an
             unavailable one is lbforaging's no-op), what the adapter's own cost is measured against
  env        the env alone through our adapter (get_obs, get_state, get_avail_actions and step every
             step), uniformly random available actions drawn for all agents at once (continuous: uniform
             in each agent's Box)
  collect    the runner with the controller choosing actions, no learning
  learn      learner updates on batches sampled from the buffer
  train      the real training loop (collect -> insert -> sample -> learn), tests and saving off
Before `learn` the buffer is filled to its capacity (`--fill`) with copies of the episodes `collect`
played: the state of a run after its first `buffer_size` episodes, where a long run spends most of its
time. (`learn_ahead` prepares an update during the collection only when its batch avoids the slots
being collected; with a nearly empty buffer that is rarely so.)
Memory: peak RSS of this process (and of its worker processes, for the parallel runner), the replay
buffer's bytes, and the minor page faults per learner update (memory malloc gave back to the OS and the
update touched again; `keep_freed_memory` keeps it). `--json` writes every figure.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from components.action_spaces import BoxActions, is_continuous
from envs import REGISTRY as env_REGISTRY
from run import Experiment, prepare_args, task_name
from utils.config_checks import coerce_and_validate
from utils.config_loader import build_config, split_with
from utils.logging import Logger, get_console_logger

# EPyMARL's qmix.yaml (at cbc38c0): 32 episodes a batch, a buffer of 5000, one env, one update per
# episode, lr 5e-4, epsilon over 50k steps, one-step targets, no last action in the agents' inputs
EPYMARL_QMIX = ["batch_size=32", "buffer_size=5000", "batch_size_run=1", "runner=episode", "lr=0.0005",
                "epsilon_anneal_time=50000", "td_lambda=0", "obs_last_action=False"]
ROWS = [
    ("raw_env_sps", "raw env steps/s (LBF)"),
    ("env_sps", "env-only steps/s"),
    ("env_vs_raw", "env-only / raw env"),
    ("collect_sps", "collection steps/s"),
    ("collect_vs_env", "collection / env-only"),
    ("train_sps", "training steps/s"),
    ("train_vs_env", "training / env-only"),
    ("updates_per_s", "learner updates/s"),
    ("faults_per_update", "page faults per update"),
    ("sec_per_10k", "wall-clock per 10k steps (s)"),
    ("peak_rss_mib", "peak RSS (MiB)"),
    ("buffer_mib", "replay buffer (MiB)"),
]


def make_config(alg: str, env: str, overrides: list[str]) -> dict[str, Any]:
    base = ["test_interval=1000000000", "log_interval=1000000000", "runner_log_interval=1000000000",
            "learner_log_interval=1000000000", "save_model=False", "use_tensorboard=False"]
    config = coerce_and_validate(build_config(alg, env, base + overrides))
    if config["seed"] is None:
        config["seed"] = 1
    config["env_args"]["seed"] = config["seed"]
    return config


def random_available(rng: np.random.Generator, avail: np.ndarray) -> list[int]:
    """A uniformly random available action per agent, all agents in one draw: avail `[agents, actions]`."""
    return (rng.random(avail.shape) * avail).argmax(axis=1).tolist()


def env_steps_per_sec(config: dict[str, Any], steps: int) -> float:
    env = env_REGISTRY[config["env"]](**config["env_args"])
    rng = np.random.default_rng(0)
    env.reset()
    info = env.get_env_info()
    box = BoxActions.from_spaces(info["action_spaces"]) if is_continuous(info) else None

    def act() -> Any:
        if box is not None:
            return box.sample(rng)
        return random_available(rng, np.asarray(env.get_avail_actions()))

    for _ in range(min(200, steps)):
        env.get_avail_actions()
        _, terminated, _ = env.step(act())
        if terminated:
            env.reset()
    start = time.perf_counter()
    for _ in range(steps):
        env.get_obs()
        env.get_state()
        _, terminated, _ = env.step(act())
        if terminated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def raw_env_steps_per_sec(config: dict[str, Any], steps: int) -> float:
    """LBF's gymnasium env on its own (`gym.make` of the task's id, its own time limit), uniformly random
    actions drawn up front, resets included; NaN for the other envs."""
    if config["env"] != "lbf":
        return float("nan")
    import gymnasium as gym
    import lbforaging  # noqa: F401  (registers the Foraging ids)

    env = gym.make(config["env_args"]["key"], disable_env_checker=True)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, env.action_space[0].n, size=(steps + 200, len(env.action_space))).tolist()
    for a in actions[:200]:
        if env.step(a)[2]:
            env.reset()
    start = time.perf_counter()
    for a in actions[200:]:
        if env.step(a)[2]:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def buffer_bytes(buffer: Any) -> int:
    data = buffer.data if hasattr(buffer, "data") else buffer
    tensors = list(data.transition_data.values()) + list(data.episode_data.values())
    return sum(t.numel() * t.element_size() for t in tensors)


def peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def minor_faults() -> int:
    """This process's minor page faults so far: pages the kernel mapped in (and zeroed) on first touch,
    e.g. after malloc gave freed memory back to the OS (see `keep_freed_memory`)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def fill_buffer(buffer: Any, batches: list[Any], episodes: int) -> None:
    """Insert copies of `batches` (in turn) until the buffer holds at least `episodes` (at most its capacity)."""
    episodes = min(episodes, buffer.buffer_size)
    i = 0
    while batches and buffer.episodes_in_buffer < episodes:
        buffer.insert_episode_batch(batches[i % len(batches)])
        i += 1


def bench_config(config: dict[str, Any], steps: int, updates: int, profile: str | None, fill: int | None = None) -> dict[str, Any]:
    """All phases for one config; returns the figures (and, with `profile` = a pstats sort key such as
    'tottime' or 'cumulative', the profile's top 30 lines). Before the learn and train phases the buffer
    is filled to `fill` episodes (default: its capacity) with copies of the collect phase's episodes."""
    console = get_console_logger("bench")
    console.setLevel("WARNING")
    result: dict[str, Any] = {"raw_env_sps": raw_env_steps_per_sec(config, steps), "env_sps": env_steps_per_sec(config, steps)}
    result["env_vs_raw"] = result["env_sps"] / result["raw_env_sps"]
    args = prepare_args(dict(config), console, "/tmp/bench_results", "bench")
    exp = Experiment(args, Logger(console))
    runner = exp.runner
    try:
        while not exp.schedule.can_learn():
            with torch.no_grad():
                exp.buffer.insert_episode_batch(runner.run(test_mode=False))
            exp.episode += args.batch_size_run

        t0, start = runner.t_env, time.perf_counter()
        collected = []
        while runner.t_env - t0 < steps:
            with torch.no_grad():
                collected.append(runner.run(test_mode=False))
        result["collect_sps"] = (runner.t_env - t0) / (time.perf_counter() - start)
        result["collect_vs_env"] = result["collect_sps"] / result["env_sps"]
        fill_buffer(exp.buffer, collected, exp.buffer.buffer_size if fill is None else fill)

        exp.schedule.learn()
        faults, start = minor_faults(), time.perf_counter()
        for _ in range(updates):
            exp.schedule.learn()
        result["updates_per_s"] = updates / (time.perf_counter() - start)
        result["faults_per_update"] = (minor_faults() - faults) / updates

        profiler = cProfile.Profile() if profile else None
        exp.last_test_T = runner.t_env  # a run tests at its first iteration; the train phase times training only
        model_part = getattr(exp.learner, "model_part", None)
        if model_part is not None:  # a world model on its own schedule counts env steps from here, not
            model_part.last_t = runner.t_env  # a burst for every step the earlier phases collected without learning
        t0, start = runner.t_env, time.perf_counter()
        if profiler:
            profiler.enable()
        while runner.t_env - t0 < steps:
            exp.iteration(start, t0)
        exp.schedule.finish_learning()
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - start
        result["train_sps"] = (runner.t_env - t0) / elapsed
        result["sec_per_10k"] = 10_000 / result["train_sps"]
        result["train_vs_env"] = result["train_sps"] / result["env_sps"]
        result["buffer_mib"] = buffer_bytes(exp.buffer) / 2**20
        result["peak_rss_mib"] = peak_rss_mib()
        if profiler:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(profile).print_stats(30)
            result["profile"] = text.getvalue()
    finally:
        runner.close_env()
    return result


def median_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    merged = {key: statistics.median(r[key] for r in results) for key, _ in ROWS}
    if "profile" in results[-1]:
        merged["profile"] = results[-1]["profile"]
    return merged


def print_table(names: list[str], figures: list[dict[str, Any]], header: str) -> None:
    print(header)
    cols = names + (["ratio B/A"] if len(names) == 2 else [])
    print(f"{'':32}" + "".join(f"{c:>16}" for c in cols))
    for key, label in ROWS:
        cells = [f"{f[key]:16.3f}" if abs(f[key]) < 10 else f"{f[key]:16.0f}" for f in figures]
        if len(figures) == 2:
            cells.append(f"{figures[1][key] / figures[0][key]:16.2f}" if figures[0][key] else f"{'-':>16}")
        print(f"{label:32}" + "".join(cells))


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    argv, overrides = split_with(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="qmix", help="algorithm config (A)")
    parser.add_argument("--compare", default=None, help="a second algorithm config (B), run alternately with A")
    parser.add_argument("--env-config", default="lbf")
    parser.add_argument("--steps", type=int, default=10_000, help="env steps per timed phase")
    parser.add_argument("--updates", type=int, default=50, help="learner updates in the learn phase")
    parser.add_argument("--rounds", type=int, default=None, help="repeats per config (median); default 1, 2 with --compare")
    parser.add_argument("--epymarl", action="store_true", help="EPyMARL's QMIX settings: " + " ".join(EPYMARL_QMIX))
    parser.add_argument("--profile", nargs="?", const="tottime", choices=["tottime", "cumulative"],
                        help="cProfile the train phase and print the top costs, by own time (default) or cumulative")
    parser.add_argument("--fill", type=int, default=None,
                        help="episodes in the buffer before the learn and train phases, copies of the collect phase's "
                             "(default: the buffer's capacity, as for most of a long run; 0: only what the bench collects)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return parser.parse_args(argv), overrides


def main(argv: list[str] | None = None) -> int:
    opts, overrides = parse(sys.argv[1:] if argv is None else argv)
    overrides = (EPYMARL_QMIX if opts.epymarl else []) + overrides
    names = [opts.config] + ([opts.compare] if opts.compare else [])
    configs = {name: make_config(name, opts.env_config, overrides) for name in names}
    rounds = opts.rounds or (2 if opts.compare else 1)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            runs[name].append(bench_config(configs[name], opts.steps, opts.updates, opts.profile, opts.fill))
    figures = [median_of(runs[name]) for name in names]
    task = task_name(configs[names[0]]["env_args"])
    header = (f"{opts.env_config} {task} | {opts.steps} steps per phase, {rounds} round(s), median | "
              f"torch threads {torch.get_num_threads()} | overrides: {' '.join(overrides) or '-'}")
    print_table(names, figures, header)
    for name, fig in zip(names, figures):
        if "profile" in fig:
            print(f"\n--- profile of the train phase: {name} ---\n{fig['profile']}")
    if opts.json:
        out = {"env_config": opts.env_config, "task": task, "overrides": overrides, "steps": opts.steps,
               "rounds": rounds, "results": {n: {k: v for k, v in f.items() if k != "profile"} for n, f in zip(names, figures)},
               "runs": {n: [{k: v for k, v in r.items() if k != "profile"} for r in rs] for n, rs in runs.items()}}
        os.makedirs(os.path.dirname(os.path.abspath(opts.json)), exist_ok=True)
        Path(opts.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The parts of a run, built from its args: runner (and env), replay buffer, controller, learner, their
side threads and the update schedule. The loop (`run.Experiment`) only drives them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from components.replay_buffer import PrioritizedReplayBuffer, ReplayBuffer
from components.scheme import build_scheme
from components.update_schedule import UpdateSchedule
from controllers import REGISTRY as mac_REGISTRY
from learners import REGISTRY as le_REGISTRY
from runners import REGISTRY as r_REGISTRY
from utils.logging import Logger
from utils.run_checks import check_buffer_fits
from utils.side_thread import SideThreads


@dataclass
class RunParts:
    """`mac` is the learner's controller; `acting_mac` the runner's, a copy of it with `overlap_learning`."""

    runner: Any
    buffer: ReplayBuffer
    mac: Any
    acting_mac: Any
    learner: Any
    side_threads: SideThreads
    schedule: UpdateSchedule


def build_replay_buffer(
    args: Any, scheme: dict[str, Any], groups: dict[str, int], preprocess: dict[str, Any], episode_limit: int
) -> ReplayBuffer:
    """The replay buffer of whole episodes (`episode_limit + 1` steps each), prioritised with `use_per`,
    after checking that it fits in memory (`check_buffer_fits`)."""
    device = "cpu" if args.buffer_cpu_only else args.device
    max_seq_length = episode_limit + 1
    check_buffer_fits(scheme, groups, preprocess, args.buffer_size, max_seq_length, device)
    if args.use_per:
        return PrioritizedReplayBuffer(
            scheme, groups, args.buffer_size, max_seq_length, preprocess=preprocess, device=device, seed=args.seed,
            alpha=args.per_alpha, beta=args.per_beta, t_max=args.t_max,
        )
    return ReplayBuffer(scheme, groups, args.buffer_size, max_seq_length, preprocess=preprocess, device=device, seed=args.seed)


def build_run_parts(args: Any, logger: Logger, t_env: Callable[[], int], episode: Callable[[], int]) -> RunParts:
    """Build every part from `args`, which gains the env's sizes (`n_agents`, `n_actions`, `state_shape`,
    `obs_shape`, `episode_limit`) for the parts built after the runner. `t_env()` and `episode()`: the
    loop's counters, which the schedule reads when an update runs."""
    runner = r_REGISTRY[args.runner](args, logger)
    env_info = runner.get_env_info()
    for key in ("n_agents", "n_actions", "state_shape", "obs_shape", "episode_limit"):
        setattr(args, key, env_info[key])
    scheme, groups, preprocess = build_scheme(env_info)
    buffer = build_replay_buffer(args, scheme, groups, preprocess, env_info["episode_limit"])
    mac = mac_REGISTRY[args.mac](buffer.scheme, groups, args)
    runner.setup(scheme=scheme, groups=groups, preprocess=preprocess, mac=mac)
    learner = le_REGISTRY[args.learner](mac, buffer.scheme, logger, args)
    learner.to(args.device)
    side_threads = SideThreads()
    learner.use_side_threads(side_threads)
    acting_mac = mac
    if args.overlap_learning:
        acting_mac = copy.deepcopy(mac)
        runner.mac = acting_mac
    schedule = UpdateSchedule(args, buffer, learner, mac, acting_mac, side_threads, t_env=t_env, episode=episode,
                              collection_holds_gil=runner.collection_holds_gil)
    runner.before_env_restart = schedule.wait_for_side_threads
    return RunParts(runner, buffer, mac, acting_mac, learner, side_threads, schedule)

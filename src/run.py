"""The one training loop: collect -> insert -> sample -> learn, with periodic tests, logs and checkpoints."""

from __future__ import annotations

import os
import signal
import threading
import time
from types import SimpleNamespace
from typing import Any

import torch

from components.episode_buffer import EpisodeBatch
from evaluation import evaluate, test_rounds
from learners.nonfinite import NonFiniteLossError
from run_parts import build_run_parts
from utils.checkpoint import RunCheckpoints
from utils.gc_freeze import collector_paused, frozen_heap
from utils.logging import Logger, summary_interval
from utils.malloc_tuning import keep_freed_memory
from utils.progress import TrainingProgress
from utils.resume import record_model_dir
from utils.seeding import set_seed
from utils.task_names import task_name
from utils.timing import format_duration


class StopOnSignal:
    """SIGTERM/SIGINT ask the training loop to stop after the current iteration (it then saves a
    checkpoint); a second SIGINT exits at once."""

    def __init__(self, console: Any):
        self.console = console
        self.requested: str | None = None
        self.previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            self.console.warning("Second SIGINT: exiting now without a checkpoint")
            os._exit(130)
        self.requested = name
        self.console.warning(f"{name} received: saving a checkpoint after this iteration, then stopping")

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def resolve_device(use_cuda: bool | str, console: Any) -> torch.device:
    """`use_cuda`: "auto" takes the GPU when there is one, silently; True warns when there is none."""
    available = torch.cuda.is_available()
    if use_cuda == "auto":
        return torch.device("cuda" if available else "cpu")
    if use_cuda and not available:
        console.warning("use_cuda=True but no CUDA device is available: running on the CPU")
        return torch.device("cpu")
    return torch.device("cuda" if use_cuda else "cpu")


def run(_run: Any, config: dict[str, Any], console: Any, results_dir: str, unique_token: str) -> dict[str, Any]:
    """Train (or evaluate) one run. Returns the final logged stats."""
    args = prepare_args(config, console, results_dir, unique_token)
    logger = Logger(console)
    if _run is not None:
        logger.setup_sacred(_run)
        args.sacred_run_dir = next((o.dir for o in _run.observers if getattr(o, "dir", None)), "")
        _run.info["model_dir"] = os.path.join(results_dir, "models", unique_token)
        if args.sacred_run_dir:
            record_model_dir(args.sacred_run_dir, _run.info["model_dir"])
    if args.use_tensorboard:
        logger.setup_tb(os.path.join(results_dir, "tb_logs", unique_token))
    console.info(f"Run {unique_token}: {args.name} on {args.env} ({task_name(args.env_args)}), seed {args.seed}, device {args.device}")
    try:
        with collector_paused():
            experiment = Experiment(args, logger)
        with frozen_heap():
            return experiment.run()
    finally:
        logger.close()


def prepare_args(config: dict[str, Any], console: Any, results_dir: str, unique_token: str) -> SimpleNamespace:
    """The run's args namespace; also sets the device, torch threads, malloc's thresholds and every RNG seed."""
    args = SimpleNamespace(**config)
    args.device = resolve_device(args.use_cuda, console)
    args.use_cuda = args.device.type == "cuda"
    torch.set_num_threads(args.torch_threads)
    if args.keep_freed_memory and not keep_freed_memory():
        console.info("keep_freed_memory=True: the C library is not glibc (or refused the thresholds), so malloc is left as it is")
    set_seed(args.seed)
    args.unique_token = unique_token
    args.results_dir = results_dir
    args.sacred_run_dir = ""
    return args


class Experiment:
    """The training loop over the parts of a run (`run_parts.build_run_parts`); checkpoints through
    `utils.checkpoint.RunCheckpoints`, evaluation through `evaluation.evaluate`."""

    def __init__(self, args: Any, logger: Logger):
        self.args = args
        self.logger = logger
        self.console = logger.console_logger
        self.parts = build_run_parts(args, logger, t_env=lambda: self.runner.t_env, episode=lambda: self.episode)
        self.runner, self.buffer, self.learner = self.parts.runner, self.parts.buffer, self.parts.learner
        self.schedule = self.parts.schedule
        self.checkpoints = RunCheckpoints(args, self.parts, self, logger)
        self.episode = 0
        self.last_test_T = -args.test_interval - 1
        self.last_log_T = 0
        self.previous_summary: tuple[int, float] | None = None  # (t_env, time) of this process's last summary
        self.summary_interval = summary_interval(args.log_interval, args.t_max)
        self.model_save_time = 0

    def run(self) -> dict[str, Any]:
        args = self.args
        try:
            if args.checkpoint_path:
                self.checkpoints.load(args.checkpoint_path, args.load_step)
            if args.evaluate:
                evaluate(args, self.runner, self.logger)
            else:
                self.train()
        finally:
            try:
                self.schedule.join()
            finally:
                self.runner.close_env()
        return {k: v[-1][1] for k, v in self.logger.stats.items()}

    def train(self) -> None:
        args, runner = self.args, self.runner
        start_time = time.time()
        start_t = runner.t_env
        if start_t:
            self.console.info(f"Beginning training at t_env {start_t} of {args.t_max} ({max(0, args.t_max - start_t)} steps to go)")
        else:
            self.console.info(f"Beginning training for {args.t_max} timesteps")
        with StopOnSignal(self.console) as stop, TrainingProgress(args.t_max, start_t) as progress:
            try:
                while runner.t_env <= args.t_max and not stop.requested:
                    self.iteration(start_time, start_t)
                    progress.update(runner.t_env, self.logger.stats)
                self.schedule.finish_learning()
            except NonFiniteLossError as error:
                self.console.error(f"{error}\nSaving a checkpoint of the last finite state")
                self.save()
                raise
            if stop.requested and self.model_save_time != runner.t_env:
                self.save()
                raise KeyboardInterrupt(f"stopped by {stop.requested} at t_env {runner.t_env}; checkpoint saved")
        if args.save_model and self.model_save_time != runner.t_env:
            self.save()
        # The final values: the training episodes' stats since their last log, and a test at the last step
        # (`test_at_end`; not up to test_interval steps before it). They come after the last checkpoint, so a run
        # extended from it (resume= with a larger t_max) goes on exactly as one run to the larger t_max would.
        runner.log_train_stats()
        if args.test_at_end and runner.t_env > self.last_test_T:
            self.test()
        elapsed = time.time() - start_time
        self.console.info(f"Finished training: {runner.t_env} env steps in {format_duration(elapsed)} "
                          f"({(runner.t_env - start_t) / max(elapsed, 1e-9):.0f} steps/s)")
        self.logger.print_final_stats()

    def iteration(self, start_time: float, start_t: int) -> None:
        """Collect one batch of episodes, store it, learn (`UpdateSchedule`: when, on what and on which
        thread), and test/log/save when their intervals have passed. The checkpoint comes last, so
        everything logged up to its t_env is inside it."""
        args, runner, schedule = self.args, self.runner, self.schedule
        t_before = runner.t_env
        ahead = schedule.ahead = schedule.start_update_ahead(runner.batch_size)
        try:
            episode_batch = runner.run(test_mode=False)  # acting records no graph (the runner's own inference mode)
        except BaseException:
            schedule.wait_for_side_threads()  # no gradient is being written while the run stops
            raise
        finally:
            schedule.ahead = None
        try:
            schedule.finish_learning()
        except NonFiniteLossError:
            self.store(episode_batch)  # the run's checkpoint holds every episode up to its t_env
            raise
        self.learner.observe_new_episodes(episode_batch, runner.t_env)
        self.store(episode_batch)
        schedule.learn_after_collection(ahead, runner.t_env - t_before)
        if (runner.t_env - self.last_test_T) / args.test_interval >= 1.0:
            self.test()
        last_summary_t = self.previous_summary[0] if self.previous_summary else start_t
        if runner.t_env - self.last_log_T >= args.log_interval or runner.t_env - last_summary_t >= self.summary_interval:
            self.log_progress(start_time, start_t)
        if args.save_model and (runner.t_env - self.model_save_time >= args.save_model_interval or self.model_save_time == 0):
            self.save()

    def store(self, episode_batch: EpisodeBatch) -> None:
        """Insert freshly collected episodes into the replay buffer and count them."""
        self.buffer.insert_episode_batch(episode_batch)
        self.episode += self.args.batch_size_run

    def test(self) -> None:
        self.schedule.finish_learning()
        n_runs = test_rounds(self.args.test_nepisode, self.runner.batch_size)
        self.last_test_T = self.runner.t_env
        for _ in range(n_runs):
            self.runner.run(test_mode=True)

    def log_progress(self, start_time: float, start_t: int) -> None:
        """The console summary: t_env, episodes, steps/s since the start, elapsed time and ETA (at the
        rate since the previous summary), then every metric's latest value and recent mean. Every
        `log_interval` steps it also logs `episode` and `steps_per_sec`; a short run's extra summaries
        (see `summary_interval`) log nothing."""
        self.schedule.finish_learning()
        t_env = self.runner.t_env
        now = time.time()
        elapsed = now - start_time
        rate = (t_env - start_t) / max(elapsed, 1e-9)
        since_t, since_time = self.previous_summary or (start_t, start_time)
        recent_rate = (t_env - since_t) / max(now - since_time, 1e-9) if t_env > since_t else rate
        self.previous_summary = (t_env, now)
        remaining = max(0, self.args.t_max - t_env) / max(recent_rate, 1e-9)
        if t_env - self.last_log_T >= self.args.log_interval:
            self.logger.log_stat("episode", self.episode, t_env)
            self.logger.log_stat("steps_per_sec", rate, t_env)
            self.last_log_T = t_env
        self.console.info(
            f"t_env {t_env}/{self.args.t_max} | episodes {self.episode} | {rate:.0f} steps/s | "
            f"elapsed {format_duration(elapsed)} | ETA {format_duration(remaining)}"
        )
        self.logger.print_recent_stats(t_env, self.episode, since_t)

    def state_dict(self) -> dict[str, Any]:
        """The loop's counters, for the run's checkpoint (`RunCheckpoints`)."""
        return {
            "episode": self.episode,
            "last_test_T": self.last_test_T,
            "last_log_T": self.last_log_T,
            "model_save_time": self.model_save_time,
        }

    def load_state_dict(self, state: dict[str, Any], t_env: int) -> None:
        """The counters of a checkpoint saved at `t_env`."""
        self.episode = state["episode"]
        self.last_test_T = state["last_test_T"]
        self.last_log_T = state["last_log_T"]
        self.model_save_time = t_env

    def save(self) -> None:
        """A checkpoint of the whole run at the runner's t_env."""
        self.model_save_time = self.runner.t_env
        self.checkpoints.save()

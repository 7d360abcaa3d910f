"""What a learner is to the training loop (src/run.py). QLearner implements every method; its hooks
(`observe_new_episodes`, `train_world_model`, `log_world_model`, `after_update`, `on_target_interval`) do
nothing there, and salemb's learners fill them in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from components.episode_buffer import EpisodeBatch
from utils.side_thread import SideThreads


class Learner(Protocol):
    # the selecting keys whose parts the learner builds (a mixer, a critic, a world model): their declared
    # keys join the run's config (utils/registries.py)
    components: tuple[str, ...]
    # whether `prepare_update` may run beside acting (it draws nothing from torch's global generator)
    update_ahead: bool
    # how many of its first calls to its "learner-side" lane an update prepared ahead hands to the loop's
    # thread, which runs them before it collects (`SideThread.serve_first`)
    lane_calls_ahead: int
    # set by the schedule: the collection beside an update prepared ahead holds the GIL, so the update
    # lets the loop go only once its backward pass needs no more of it (QLearner's `let_go_in_backward`)
    let_go_in_backward: bool

    def __init__(self, mac: Any, scheme: dict[str, Any], logger: Any, args: Any) -> None: ...

    def use_side_threads(self, threads: SideThreads) -> None:
        """Take the run's side threads (lanes by name) for work inside an update that can run beside it."""

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int, per_weights: torch.Tensor | None = None) -> dict[str, Any]:
        """One update on a batch of episodes `[batch, time, ...]`; returns "loss" and, for PER,
        "td_errors_abs" `[batch]`, or "skipped"."""

    def prepare_update(self, batch: EpisodeBatch, per_weights: torch.Tensor | None = None) -> Any:
        """The first half of `train`: gradients computed, no parameter changed (the loop may act meanwhile)."""

    def apply_update(self, prepared: Any, t_env: int, episode_num: int) -> dict[str, Any]:
        """The second half of `train`: the checks, the optimiser steps, target updates and logging."""

    def observe_new_episodes(self, batch: EpisodeBatch, t_env: int) -> None:
        """Freshly collected episodes, before they are stored."""

    def train_world_model(self, buffer: Any, t_env: int) -> Callable[[], dict[str, torch.Tensor]] | None:
        """A call that trains a model on its own schedule beside the loop, or None."""

    def log_world_model(self, stats: dict[str, torch.Tensor], t_env: int) -> None: ...

    def to(self, device: str | torch.device) -> Any: ...

    def state_dict(self) -> dict[str, Any]:
        """Everything learning needs to continue exactly (networks, targets, optimisers, counters)."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def checkpoint_files(self, state: dict[str, Any]) -> dict[str, Any]:
        """The files a checkpoint writes for the learner beside state.th (PyMARL's agent.th, ...), by name."""

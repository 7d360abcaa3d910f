"""When the learner updates, on what, and on which thread (the loop, src/run.py, only collects, tests,
logs and saves).

After each collection: one update per batch of episodes, or `updates_per_env_step` per env step collected
(TD3-style, the fraction carried over); with `learn_ahead` the update that follows a collection is
prepared on a side thread during it (`start_update_ahead`); with `overlap_learning` the updates run on a
background thread while the next batch is collected, by a copy of the agents that takes the learner's
weights after them; and a world model on its own schedule (salemb's `wm_train_ratio`) trains beside the
loop (`learn_world_model`). Every option keeps the numbers of the plain order but `overlap_learning`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from typing import Any

import numpy as np

from components.episode_buffer import EpisodeBatch
from utils.background import BackgroundCall
from utils.side_thread import LEARNER_LANE, SideThreads


@dataclass
class UpdateAhead:
    """The next update's batch, drawn before the episodes that precede it are collected (`learn_ahead`).

    `indices`: the buffer slots of the batch, drawn with the buffer's own generator exactly as a draw
    after the insert would be. `prepared`: the update's gradients being computed on a side thread, or
    None when the batch reads a slot the coming insert writes (it is then learnt after the insert)."""

    indices: np.ndarray
    prepared: Future | None


class UpdateSchedule:
    def __init__(self, args: Any, buffer: Any, learner: Any, mac: Any, acting_mac: Any, side_threads: SideThreads,
                 t_env: Callable[[], int], episode: Callable[[], int], collection_holds_gil: bool = False):
        """`t_env()`, `episode()`: the loop's counters, read when an update runs (an overlapped update
        runs while the next batch is collected). `collection_holds_gil`: the runner's collection keeps
        the GIL (`EpisodeRunner.collection_holds_gil`), so an update prepared ahead lets the loop go and
        collect only once its backward pass needs no more GIL (`QLearner.let_go_in_backward`)."""
        learner.let_go_in_backward = collection_holds_gil
        self.args = args
        self.buffer = buffer
        self.learner = learner
        self.mac = mac
        self.acting_mac = acting_mac
        self.t_env = t_env
        self.episode = episode
        self.background = BackgroundCall()
        self.learns_ahead = self._can_learn_ahead()
        self.ahead_thread = side_threads.lane("learn-ahead", self.learns_ahead)
        self.learner_lane = side_threads.lane(LEARNER_LANE, args.parallel_learner)
        self.ahead: UpdateAhead | None = None
        self.wm_fit: tuple[int, Future] | None = None  # (t_env, the world model's training) running beside the loop
        self.update_credit = 0.0

    def learn_after_collection(self, ahead: UpdateAhead | None, new_steps: int) -> None:
        """The updates due once a collection of `new_steps` env steps is stored: the one prepared `ahead`,
        or those `updates_due` says (on the background thread with `overlap_learning`), then the world
        model's own training."""
        if ahead is not None:
            self.learn(ahead)
            self.learn_world_model()
        elif self.can_learn():
            n_updates = self.updates_due(new_steps)
            if self.acting_mac is self.mac:
                self.learn_many(n_updates)
            else:
                self.background.start(functools.partial(self.learn_many, n_updates))
        else:
            self.learn_world_model()

    def join(self) -> None:
        """Wait for the overlapped update, if any (at the run's end, after an error too)."""
        self.background.join()

    def state_dict(self) -> dict[str, Any]:
        return {"update_credit": self.update_credit}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.update_credit = state.get("update_credit", 0.0)

    def finish_learning(self) -> None:
        """Wait for a background update and the world model's training (logging its stats), and give the
        update's weights to the acting copy of the agents."""
        self.background.join()
        if self.wm_fit is not None:
            (t_env, fit), self.wm_fit = self.wm_fit, None
            self.learner.log_world_model(fit.result(), t_env)
        if self.acting_mac is not self.mac:
            self.acting_mac.load_state(self.mac)

    def can_learn(self) -> bool:
        """Enough data for a batch: `batch_size` episodes, or with `sample_window` any stored episode."""
        if self.args.sample_window:
            return self.buffer.episodes_in_buffer > 0
        return self.buffer.can_sample(self.args.batch_size)

    def updates_due(self, new_steps: int) -> int:
        """Learner updates for `new_steps` freshly collected env steps: one per batch of episodes, or
        `updates_per_env_step` per step (the fraction carries over to the next batch)."""
        if self.args.updates_per_env_step <= 0:
            return 1
        self.update_credit += new_steps * self.args.updates_per_env_step
        n_updates = int(self.update_credit)
        self.update_credit -= n_updates
        return n_updates

    def learn_many(self, n_updates: int) -> None:
        for _ in range(n_updates):
            self.learn()
        self.learn_world_model()

    def learn_world_model(self) -> None:
        """A learner with a world model on its own schedule (salemb's `wm_train_ratio`) trains it on the
        buffer after the Q-learner's updates. Its windows are drawn here, in the loop's order; with
        `learn_ahead` the training runs on the side thread while this thread tests, logs and collects the
        next episodes (none of which reads the model), ahead of the next update's preparation on that
        thread. `finish_learning` waits for it before the buffer changes or the model is read or saved:
        the same numbers as training it here."""
        t_env = self.t_env()
        fit = self.learner.train_world_model(self.buffer, t_env)
        if fit is not None:
            self.wm_fit = (t_env, self.ahead_thread.submit(fit))

    def _can_learn_ahead(self) -> bool:
        """`learn_ahead` applies to one update per batch of whole episodes, sampled uniformly, by a
        learner whose `prepare_update` draws no random numbers (`update_ahead`), without `overlap_learning`."""
        args = self.args
        return bool(
            args.learn_ahead and self.learner.update_ahead and not args.use_per and not args.sample_window
            and args.updates_per_env_step <= 0 and self.acting_mac is self.mac
        )

    def start_update_ahead(self, n_new: int) -> UpdateAhead | None:
        """With `learn_ahead`: draw the batch of the update that follows the coming collection and, unless
        it reads a slot the collection's insert will write, compute its gradients on a side thread while
        the runner collects `n_new` episodes. The update uses the weights the runner acts with, and its
        optimiser step waits for the collection, so every number is as without `learn_ahead`. None when no
        update follows."""
        if not self.learns_ahead:
            return None
        episodes = self.buffer.episodes_after(n_new)
        if episodes < self.args.batch_size:
            return None
        indices = self.buffer.sample_indices(self.args.batch_size, episodes)
        if np.isin(indices, self.buffer.next_slots(n_new)).any():
            return UpdateAhead(indices, None)
        fit = self.wm_fit[1] if self.wm_fit is not None else None
        start = functools.partial(self.ahead_thread.submit, self._prepare_update, indices, fit)
        if fit is not None:  # the side thread trains the world model first: no lane call comes soon
            return UpdateAhead(indices, start())
        # this thread runs the update's first lane calls (target unroll, targets, loss, go-ahead) before it
        # collects (`SideThread.serve_first`): EPyMARL's QMIX settings trained 1.12x faster on two cores with
        # the target unroll served, 1.13x again with the targets, 1.07x again up to the backward pass (same numbers)
        return UpdateAhead(indices, self.learner_lane.serve_first(start, self.learner.lane_calls_ahead))

    def wait_for_side_threads(self) -> None:
        """Wait (without taking results or errors) for the update being prepared ahead, the world model's
        training and the overlapped update, if any: before worker processes are forked, and before the run
        stops on an error."""
        if self.ahead is not None and self.ahead.prepared is not None:
            wait_for([self.ahead.prepared])
        if self.wm_fit is not None:
            wait_for([self.wm_fit[1]])
        self.background.wait()

    def _prepare_update(self, indices: np.ndarray, after: Future | None = None) -> Any:
        """The update's first half on the batch at `indices`. `after`: the world model's training queued
        before it on the side thread; if that failed (a non-finite loss), this update is not prepared, so
        that nothing it would change (the reward statistics) reaches the checkpoint the run stops with."""
        if after is not None and after.exception() is not None:
            raise after.exception()
        return self.learner.prepare_update(self._truncate(self.buffer[indices]))

    def learn(self, ahead: UpdateAhead | None = None) -> None:
        """One learner update on a batch from the buffer (or the batch `ahead` drew, see `start_update_ahead`)."""
        args = self.args
        if ahead is not None and ahead.prepared is not None:
            self.learner.apply_update(ahead.prepared.result(), self.t_env(), self.episode())
            return
        if args.use_per:
            batch, idx, weights = self.buffer.sample_with_weights(args.batch_size, self.t_env())
        elif args.sample_window:
            batch, idx, weights = self.buffer.sample_windows(args.batch_size, args.sample_window), None, None
        else:
            idx = ahead.indices if ahead is not None else self.buffer.sample_indices(args.batch_size)
            batch, weights = self.buffer[idx], None
        batch = self._truncate(batch)
        info = self.learner.train(batch, self.t_env(), self.episode(), per_weights=weights)
        if args.use_per:
            if not info.get("skipped"):
                self.buffer.update_priorities(idx, info["td_errors_abs"].cpu().numpy())

    def _truncate(self, batch: EpisodeBatch) -> EpisodeBatch:
        max_t = batch.max_t_filled()
        return batch[:, :max_t].to(self.args.device)

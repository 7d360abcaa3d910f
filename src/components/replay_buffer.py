"""Circular replay buffers over whole episodes (uniform and episode-level prioritized)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from components.episode_buffer import EpisodeBatch, Preprocess


class ReplayBuffer(EpisodeBatch):
    """Holds up to `buffer_size` episodes; new episodes overwrite the oldest ones."""

    def __init__(
        self,
        scheme: dict[str, dict[str, Any]],
        groups: dict[str, int],
        buffer_size: int,
        max_seq_length: int,
        preprocess: Preprocess | None = None,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ):
        super().__init__(scheme, groups, buffer_size, max_seq_length, preprocess=preprocess, device=device)
        self.buffer_size = buffer_size
        self.buffer_index = 0
        self.episodes_in_buffer = 0
        self.rng = np.random.default_rng(seed)

    def insert_episode_batch(self, ep_batch: EpisodeBatch) -> None:
        """Copy `ep_batch` in, wrapping around the end of the buffer."""
        n = ep_batch.batch_size
        if self.buffer_index + n <= self.buffer_size:
            idx = slice(self.buffer_index, self.buffer_index + n)
            t = slice(0, ep_batch.max_seq_length)
            for k, v in ep_batch.transition_data.items():
                self.transition_data[k][idx, t] = v.to(self.device)
            for k, v in ep_batch.episode_data.items():
                self.episode_data[k][idx] = v.to(self.device)
            self._on_insert(np.arange(self.buffer_index, self.buffer_index + n))
            self.buffer_index = self.buffer_index + n
            self.episodes_in_buffer = max(self.episodes_in_buffer, self.buffer_index)
            self.buffer_index %= self.buffer_size
        else:
            space_left = self.buffer_size - self.buffer_index
            self.insert_episode_batch(ep_batch[0:space_left, :])
            self.insert_episode_batch(ep_batch[space_left:, :])

    def _on_insert(self, slots: np.ndarray) -> None:
        """Hook for subclasses that track per-episode data."""

    def can_sample(self, batch_size: int) -> bool:
        return self.episodes_in_buffer >= batch_size

    def _check_can_sample(self, batch_size: int, episodes: int | None = None) -> None:
        episodes = self.episodes_in_buffer if episodes is None else episodes
        if episodes < batch_size:
            raise ValueError(f"cannot sample {batch_size} episodes from a buffer holding {episodes}")

    def sample_indices(self, batch_size: int, episodes: int | None = None) -> np.ndarray:
        """`batch_size` distinct episode slots, uniformly. `episodes` (default: the episodes held now) lets
        a caller draw, before an insert, the slots a draw right after it would give (see `episodes_after`)."""
        episodes = self.episodes_in_buffer if episodes is None else episodes
        self._check_can_sample(batch_size, episodes)
        if episodes == batch_size:
            return np.arange(batch_size)
        return self.rng.choice(episodes, batch_size, replace=False)

    def episodes_after(self, n_new: int) -> int:
        """How many episodes the buffer will hold once `n_new` more are inserted."""
        return min(self.buffer_size, max(self.episodes_in_buffer, self.buffer_index + n_new))

    def next_slots(self, n_new: int) -> np.ndarray:
        """The slots the next insert of `n_new` episodes will write."""
        return (self.buffer_index + np.arange(n_new)) % self.buffer_size

    def sample(self, batch_size: int) -> EpisodeBatch:
        """Uniformly sample `batch_size` distinct episodes."""
        return self[self.sample_indices(batch_size)]

    def sample_windows(self, batch_size: int, length: int) -> EpisodeBatch:
        """`batch_size` windows of `length` consecutive steps `[batch_size, length, ...]`, each starting at
        a transition drawn uniformly from all stored ones (with replacement), for long episodes such as
        MaMuJoCo's. Steps past an episode's end are unfilled; a window's last filled step holds the
        observation its last transition bootstraps from."""
        (drawn,) = self.draw_windows(batch_size, length)
        return self.windows_at(drawn, length)

    def draw_windows(self, batch_size: int, length: int, count: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
        """The random part of `count` calls of `sample_windows`: each window's episode slot and first step
        ([batch_size] each), drawn with the buffer's generator in the same order. Split from the copy
        (`windows_at`) so that a side thread can copy the windows while this thread goes on drawing."""
        if self.episodes_in_buffer == 0:
            raise ValueError("cannot sample windows from an empty buffer")
        if length < 2:
            raise ValueError(f"a window needs at least 2 steps (a transition and its next step), got length={length}")
        n = self.episodes_in_buffer
        filled = self.transition_data["filled"][:n, :, 0].bool()
        starts = (filled[:, :-1] & filled[:, 1:]).sum(dim=1).cpu().numpy().astype(np.float64)
        p = starts / starts.sum()
        drawn = []
        for _ in range(count):
            episodes = self.rng.choice(n, size=batch_size, p=p)
            t0 = np.floor(self.rng.random(batch_size) * starts[episodes]).astype(np.int64)
            drawn.append((episodes, t0))
        return drawn

    def windows_at(self, drawn: tuple[np.ndarray, np.ndarray], length: int) -> EpisodeBatch:
        """The windows of `length` steps that `draw_windows` drew, copied out of the buffer."""
        episodes, t0 = drawn
        max_t = self.max_seq_length
        steps = torch.as_tensor(t0[:, None] + np.arange(length)[None, :], device=self.device)
        inside = steps < max_t
        rows = torch.as_tensor(episodes, device=self.device).unsqueeze(1)
        steps = steps.clamp(max=max_t - 1)
        data = {k: v[rows, steps] for k, v in self.transition_data.items()}
        data["filled"] = data["filled"] * inside.unsqueeze(-1).to(data["filled"].dtype)
        episode_data = {k: v[episodes] for k, v in self.episode_data.items()}
        return EpisodeBatch(
            self.scheme, self.groups, len(episodes), length,
            data={"transition_data": data, "episode_data": episode_data}, device=self.device,
        )

    def sample_latest(self, batch_size: int) -> EpisodeBatch:
        self._check_can_sample(batch_size)
        idx = (self.buffer_index - 1 - np.arange(batch_size)) % self.episodes_in_buffer
        return self[np.sort(idx)]

    def state_dict(self) -> dict[str, Any]:
        n = self.episodes_in_buffer
        return {
            "transition_data": {k: v[:n].clone() for k, v in self.transition_data.items()},
            "episode_data": {k: v[:n].clone() for k, v in self.episode_data.items()},
            "buffer_index": self.buffer_index,
            "episodes_in_buffer": n,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = state["episodes_in_buffer"]
        if n > self.buffer_size:
            raise ValueError(f"saved buffer holds {n} episodes but buffer_size is {self.buffer_size}")
        for store_name in ("transition_data", "episode_data"):
            store = getattr(self, store_name)
            for k, v in state[store_name].items():
                if k not in store or store[k][:n].shape != v.shape:
                    raise ValueError(f"saved buffer field '{k}' (shape {tuple(v.shape)}) does not match this run's scheme")
                store[k][:n] = v.to(self.device)
        self.buffer_index = state["buffer_index"]
        self.episodes_in_buffer = n
        self.rng.bit_generator.state = state["rng"]

    def __repr__(self) -> str:
        return f"ReplayBuffer({self.episodes_in_buffer}/{self.buffer_size} episodes, keys={list(self.scheme)})"


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay over episodes (one priority per stored episode).

    P(i) = p_i^alpha / sum_j p_j^alpha; importance weights w_i = (N P(i))^-beta / max_j w_j, with beta
    annealed linearly from `beta` to 1 over `t_max` env steps. New episodes get the current max priority.
    """

    def __init__(self, *args: Any, alpha: float, beta: float, t_max: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.alpha = alpha
        self.beta_start = beta
        self.t_max = t_max
        self.priorities = np.zeros(self.buffer_size, dtype=np.float64)
        self.max_priority = 1.0

    def _on_insert(self, slots: np.ndarray) -> None:
        self.priorities[slots] = self.max_priority ** self.alpha

    def beta(self, t_env: int) -> float:
        frac = min(1.0, t_env / max(1, self.t_max))
        return self.beta_start + frac * (1.0 - self.beta_start)

    def sample_with_weights(self, batch_size: int, t_env: int) -> tuple[EpisodeBatch, np.ndarray, torch.Tensor]:
        """Returns (batch, buffer indices, importance weights `[batch]`)."""
        self._check_can_sample(batch_size)
        p = self.priorities[: self.episodes_in_buffer]
        probs = p / p.sum()
        idx = self.rng.choice(self.episodes_in_buffer, batch_size, replace=True, p=probs)
        weights = (self.episodes_in_buffer * probs[idx]) ** (-self.beta(t_env))
        weights = weights / weights.max()
        return self[idx], idx, torch.as_tensor(weights, dtype=torch.float32)

    def update_priorities(self, idx: np.ndarray, priorities: np.ndarray) -> None:
        priorities = np.asarray(priorities, dtype=np.float64)
        if np.any(priorities < 0) or not np.all(np.isfinite(priorities)):
            raise ValueError(f"priorities must be finite and >= 0, got {priorities}")
        priorities = priorities + 1e-6
        self.priorities[idx] = priorities ** self.alpha
        self.max_priority = max(self.max_priority, float(priorities.max()))

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["priorities"] = self.priorities.copy()
        state["max_priority"] = self.max_priority
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.priorities[:] = state["priorities"]
        self.max_priority = state["max_priority"]

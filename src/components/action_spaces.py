"""Discrete and continuous (Box) actions: how the networks read an action, and the one mapping between a
Box's bounds and the unit box.

Agents, replay buffers and learners see continuous actions only in the unit box [-1, 1]^D, D the largest
action size of any agent (an agent with fewer dimensions has padded ones, marked 0 in its
`avail_actions` and always 0). The runner maps them to the env's own bounds with `BoxActions.to_env`
just before the env steps; nothing else converts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def is_continuous(env_info: dict[str, Any]) -> bool:
    """True when the env's `get_env_info()` lists Box action spaces (key `action_spaces`)."""
    return env_info.get("action_spaces") is not None


def continuous_scheme(scheme: dict[str, Any]) -> bool:
    """True when a batch scheme stores float `actions` (continuous) rather than integer indices."""
    return scheme["actions"].get("dtype", torch.float32).is_floating_point


def action_vector_key(scheme: dict[str, Any]) -> str:
    """The field networks read actions from: `actions_onehot` for discrete actions, `actions` (already
    vectors in [-1, 1]) for continuous ones."""
    return "actions" if continuous_scheme(scheme) else "actions_onehot"


def action_vectors(batch: Any) -> torch.Tensor:
    """Every step's actions as vectors `[batch, T, agents, n_actions]` (one-hot, or the continuous action)."""
    return batch[action_vector_key(batch.scheme)]


class BoxActions:
    """The agents' Box bounds, padded to a common size D: `low`, `high` `[agents, D]` (padding -1, 1)
    and `dims` (each agent's real size)."""

    def __init__(self, lows: Sequence[np.ndarray], highs: Sequence[np.ndarray]):
        if len(lows) != len(highs) or not lows:
            raise ValueError(f"need one (low, high) pair per agent, got {len(lows)} lows and {len(highs)} highs")
        self.dims = [int(np.asarray(low).size) for low in lows]
        self.n_agents, self.max_dim = len(lows), max(self.dims)
        self.low = -np.ones((self.n_agents, self.max_dim), dtype=np.float64)
        self.high = np.ones((self.n_agents, self.max_dim), dtype=np.float64)
        for i, (low, high) in enumerate(zip(lows, highs)):
            low, high = np.asarray(low, dtype=np.float64).ravel(), np.asarray(high, dtype=np.float64).ravel()
            if low.shape != high.shape or not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high > low)):
                raise ValueError(
                    f"agent {i}'s action bounds must be finite with high > low to map onto [-1, 1], got low={low}, high={high}"
                )
            self.low[i, : low.size], self.high[i, : high.size] = low, high

    @classmethod
    def from_spaces(cls, spaces: Sequence[Any]) -> BoxActions:
        """From one Box-like space (with `low` and `high`) per agent."""
        return cls([space.low for space in spaces], [space.high for space in spaces])

    def mask(self) -> np.ndarray:
        """`[agents, D]` int64: 1 for the dimensions an agent has, 0 for padding (its `avail_actions`)."""
        return (np.arange(self.max_dim)[None, :] < np.asarray(self.dims)[:, None]).astype(np.int64)

    def to_env(self, unit: np.ndarray) -> np.ndarray:
        """Unit-box actions `[..., agents, D]` (clipped to [-1, 1]) -> the env's bounds, same shape."""
        unit = np.clip(np.asarray(unit, dtype=np.float64), -1.0, 1.0)
        return self.low + (unit + 1.0) * 0.5 * (self.high - self.low)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """Uniformly random actions in each agent's bounds, `[agents, D]` (padding dimensions uniform in [-1, 1])."""
        return self.to_env(rng.uniform(-1.0, 1.0, size=self.low.shape))

    def to_unit(self, actions: np.ndarray) -> np.ndarray:
        """Actions in the env's bounds `[..., agents, D]` -> the unit box, same shape (inverse of `to_env`)."""
        return 2.0 * (np.asarray(actions, dtype=np.float64) - self.low) / (self.high - self.low) - 1.0

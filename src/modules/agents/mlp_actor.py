"""FACMAC's deterministic actor for continuous actions, shared by all agents: a = tanh(MLP(x)) in [-1, 1]^D."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from modules.agents.feedforward_actor import FeedForwardActor
from utils.component_config import config_of


class MLPActor(FeedForwardActor):
    def __init__(self, input_shape: int, args: Any):
        super().__init__()
        hidden = config_of(self.Config, args).actor_hidden_dim
        self.net = nn.Sequential(
            nn.Linear(input_shape, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, args.n_actions)
        )

    def pre_actions(self, inputs: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """inputs `[..., input]` (h unused) -> the actions before the tanh `[..., D]`."""
        return self.net(inputs)

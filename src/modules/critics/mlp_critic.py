"""FACMAC's per-agent critic for continuous actions, shared by all agents: Q_i = MLP([x_i, a_i, e_i]).

x_i is the agent's input (as its actor's), a_i its action in [-1, 1]^D and e_i the actor's embeddings of
(x_i, a_i) (none for `mlp_actor`). Decentralised: Q_i reads nothing of the other agents.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from modules.critics.critic_config import CriticConfig
from utils.component_config import config_of


class MLPCritic(nn.Module):
    Config = CriticConfig

    def __init__(self, input_shape: int, action_dim: int, embed_dim: int, args: Any):
        super().__init__()
        hidden = config_of(self.Config, args).critic_hidden_dim
        self.net = nn.Sequential(
            nn.Linear(input_shape + action_dim + embed_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, inputs: torch.Tensor, actions: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """inputs `[..., input]`, actions `[..., D]`, embeddings `[..., E]` -> Q `[...]`."""
        return self.net(torch.cat([inputs, actions, embeddings], dim=-1)).squeeze(-1)

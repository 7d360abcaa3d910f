"""The PyMARL recurrent agent, shared by all agents: fc -> GRU -> Q-values for every action."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from modules.agents.gru_agent_base import GRUAgentBase


class RNNAgent(GRUAgentBase):
    def __init__(self, input_shape: int, args: Any):
        super().__init__(input_shape, args.rnn_hidden_dim)
        self.fc2 = nn.Linear(self.hidden_dim, args.n_actions)
        self.layer_norm = nn.LayerNorm(self.hidden_dim) if getattr(args, "use_layer_norm", False) else nn.Identity()
        if getattr(args, "use_orthogonal", False):
            for module in (self.fc1, self.fc2):
                nn.init.orthogonal_(module.weight, gain=getattr(args, "gain", 1.0))
                nn.init.zeros_(module.bias)

    def q_values(self, inputs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Q for every action from GRU outputs h `[..., hidden]` -> `[..., actions]` (inputs unused here)."""
        return self.fc2(self.layer_norm(h))

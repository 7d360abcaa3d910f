"""TD7's value network as a per-agent critic, shared by all agents (salemb's continuous form).

  h = AvgL1Norm(W [x_i, a_i]),  Q_i = MLP([h, z_sa, z_s]) (ELU),
where (z_s, z_sa) are the agent's SALE embeddings of (x_i, a_i) that `sale_actor` hands over
(`embeddings` = [z_s, z_sa]).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from modules.critics.critic_config import CriticConfig
from modules.sale import avg_l1_norm
from utils.component_config import config_of


class SALECritic(nn.Module):
    Config = CriticConfig

    def __init__(self, input_shape: int, action_dim: int, embed_dim: int, args: Any):
        super().__init__()
        if embed_dim <= 0 or embed_dim % 2:
            raise ValueError(
                f"critic 'sale' reads [z_s, z_sa] from the actor's SALE encoders, got embeddings of width {embed_dim}; "
                "use it with agent 'sale_actor' (or critic 'mlp' with another actor)"
            )
        hidden = config_of(self.Config, args).critic_hidden_dim
        self.embed_dim = embed_dim
        self.l0 = nn.Linear(input_shape + action_dim, hidden)
        self.l1 = nn.Linear(hidden + embed_dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 1)

    def forward(self, inputs: torch.Tensor, actions: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """inputs `[..., input]`, actions `[..., D]`, embeddings [z_s, z_sa] `[..., E]` -> Q `[...]`."""
        z_s, z_sa = embeddings.split(self.embed_dim // 2, dim=-1)
        h = torch.cat([avg_l1_norm(self.l0(torch.cat([inputs, actions], dim=-1))), z_sa, z_s], dim=-1)
        return self.l3(F.elu(self.l2(F.elu(self.l1(h))))).squeeze(-1)

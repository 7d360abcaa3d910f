"""salemb's actor for continuous actions (TD7's actor), which owns the agent's SALE encoders.

Per agent (shared weights, decentralised: everything depends only on the agent's own input x):
  z_s = f(x),  a = tanh(MLP([AvgL1Norm(W x), z_s])),
with f, g the agent's SALE encoders over its action vector (g(z_s, a) = z_sa), kept in TD7's three
copies (`SALEPair`): the SALE loss trains `current`, while the actor and the critic read `fixed`
(refreshed at each target interval by `refresh_sale`). `embeddings` hands the critic [z_s, z_sa];
gradients reach the action through g, never the fixed weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from modules.agents.feedforward_actor import FeedForwardActor
from modules.sale import SALE, SALEConfig, SALEPair, avg_l1_norm
from utils.component_config import config_of


class SALEActor(FeedForwardActor):
    @dataclass(frozen=True)
    class Config(FeedForwardActor.Config, SALEConfig):
        pass

    def __init__(self, input_shape: int, args: Any):
        super().__init__()
        cfg = config_of(self.Config, args)
        embed = cfg.sale_embed_dim
        self.sale = SALEPair(SALE(input_shape, args.n_actions, embed, cfg.sale_hidden_dim, cfg.sale_activation))
        self.embed_dim = 2 * embed
        self.spread_coef = cfg.sale_spread_coef
        hidden = cfg.actor_hidden_dim
        self.l0 = nn.Linear(input_shape, hidden)
        self.l1 = nn.Linear(hidden + embed, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, args.n_actions)

    def _state_embedding(self, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.sale.fixed.encode_state(inputs)

    def pre_actions(self, inputs: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """inputs `[..., input]` (h unused) -> the actions before the tanh `[..., D]`."""
        x = torch.cat([avg_l1_norm(self.l0(inputs)), self._state_embedding(inputs)], dim=-1)
        return self.l3(F.relu(self.l2(F.relu(self.l1(x)))))

    def embeddings(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """[z_s, z_sa] `[..., 2 * sale_embed_dim]` of inputs `[..., input]` and actions `[..., D]`, from the
        fixed encoders."""
        z_s = self._state_embedding(inputs)
        return torch.cat([z_s, self.sale.fixed.encode_state_action(z_s, actions)], dim=-1)

    def sale_loss(self, inputs_seq: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """SALE prediction loss of the current encoders on each agent's own consecutive inputs.
        inputs_seq `[N, T, input]`, actions `[N, T, D]`, mask `[N, T, 1]`. Returns a scalar."""
        return self.sale.current.sequence_loss(inputs_seq, actions, mask, self.spread_coef)

    def sale_parameters(self) -> Iterator[nn.Parameter]:
        """The current (trained) SALE encoders' parameters, for their own optimiser."""
        return self.sale.current.parameters()

    def refresh_sale(self, tau: float | None = None) -> None:
        """TD7's fixed-copy refresh (fixed_target <- fixed, fixed <- current), or with `tau` the soft one
        (fixed <- (1 - tau) fixed + tau current)."""
        self.sale.refresh(tau)

"""salemb's agent network: the PyMARL GRU agent whose Q-values also read the agent's own SALE embeddings.

Per agent (shared weights, decentralised: everything depends only on the agent's own input x):
  h = GRU(relu(fc(x)), h'),  z_s = f(x),  z_sa(u) = g(z_s, onehot(u)) for every action u,
  e = [AvgL1Norm(W h), z_s],  Q(u) = base(e)[u] + <A e, z_sa(u)>  (+ fc2(h)[u] with `sale_q_skip`).
With `sale_q_skip` the rnn agent's own linear Q head on h is kept and the SALE terms are added to it, so
the Q path of a plain QMIX agent is not routed through the normalised embedding.
The head reads z_sa(u) through a bilinear term (the agent's history and state embedding against each
action's embedding) rather than a per-action MLP: with discrete actions every action is evaluated at
every step, and a per-action MLP made the agent ~9x slower than QMIX's for the same batch.
With `sale_detach` (default, TD7) the Q path reads the fixed encoder copy, which takes no gradient and
is refreshed by `refresh_sale` at each target update; the encoders are trained only by `sale_loss`.
Without it the Q path reads the current encoders and the TD gradient reaches them too.

The learner's target network is a deep copy of this module loaded from its state dict before each
refresh, so its own `fixed` copy is the online agent's previous fixed copy, as in TD7.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from modules.agents.gru_agent_base import GRUAgentBase
from modules.sale import SALE, SALEConfig, SALEPair, activation, avg_l1_norm
from utils.component_config import config_of, key


class SALERNNAgent(GRUAgentBase):
    @dataclass(frozen=True)
    class Config(GRUAgentBase.Config, SALEConfig):
        sale_detach: bool = key(True, "TD7: Q reads fixed encoder copies; the SALE loss alone trains the encoders")
        sale_q_skip: bool = key(False, "True: the agent keeps the rnn agent's linear Q head on its GRU state and adds the SALE terms to it")

    def __init__(self, input_shape: int, args: Any):
        cfg = config_of(self.Config, args)
        super().__init__(input_shape, cfg.rnn_hidden_dim)
        self.n_actions = args.n_actions
        self.detach = cfg.sale_detach
        self.spread_coef = cfg.sale_spread_coef
        embed_dim = cfg.sale_embed_dim
        sale_hidden = cfg.sale_hidden_dim
        self.h_embed = nn.Linear(self.hidden_dim, embed_dim)
        act = cfg.sale_activation
        self.sale = SALEPair(SALE(input_shape, self.n_actions, embed_dim, sale_hidden, act))
        self.head_act = activation(act)
        self.head_hidden = nn.Linear(2 * embed_dim, self.hidden_dim)
        self.head_base = nn.Linear(self.hidden_dim, self.n_actions)
        self.head_query = nn.Linear(2 * embed_dim, embed_dim)
        self.skip = nn.Linear(self.hidden_dim, self.n_actions) if cfg.sale_q_skip else None

    def q_values(self, inputs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Q for every action in one pass: inputs `[..., input]`, GRU output h `[..., hidden]` -> `[..., actions]`."""
        sale = self.sale.fixed if self.detach else self.sale.current
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.detach):
            z_s = sale.encode_state(inputs)
        e = torch.cat([avg_l1_norm(self.h_embed(h)), z_s], dim=-1)
        q = self.head_base(self.head_act(self.head_hidden(e))) + sale.g.dot_all_actions(z_s, self.head_query(e))
        return q if self.skip is None else q + self.skip(h)

    def sale_loss(self, inputs_seq: torch.Tensor, actions_onehot: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """SALE prediction loss of the current encoders on each agent's own consecutive inputs.

        inputs_seq `[N, T, input]`, actions_onehot `[N, T, actions]`, mask `[N, T, 1]` (1 where a_t was
        taken and x_{t+1} exists; pairs t -> t + 1 for t < T - 1). Returns a scalar.
        """
        return self.sale.current.sequence_loss(inputs_seq, actions_onehot, mask, self.spread_coef)

    def sale_parameters(self) -> Iterator[nn.Parameter]:
        """The current (trained) SALE encoders' parameters, for their own optimiser."""
        return self.sale.current.parameters()

    def q_parameters(self) -> Iterator[nn.Parameter]:
        """Every other trainable parameter (GRU, W, head); the fixed SALE copies are never trained."""
        return (p for name, p in self.named_parameters() if not name.startswith("sale."))

    def refresh_sale(self, tau: float | None = None) -> None:
        """TD7's fixed-copy refresh (fixed_target <- fixed, fixed <- current), or with `tau` the soft one
        (fixed <- (1 - tau) fixed + tau current)."""
        self.sale.refresh(tau)

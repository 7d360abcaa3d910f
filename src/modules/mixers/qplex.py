"""QPLEX (Wang et al. 2021, "QPLEX: Duplex Dueling Multi-Agent Q-Learning"): a mixer that needs the actions.

Per agent, a positive state-dependent transform of its value and of its greedy value,
    Q_i' = w_i(s) Q_i + b_i(s),   V_i' = w_i(s) max_a Q_i + b_i(s),   A_i' = Q_i' - V_i' <= 0   (w_i > 0),
and the joint value is the sum of the V_i' and of the advantages weighted by positive importance
weights of the state and the joint action,
    Q_tot = sum_i V_i' + sum_i lambda_i(s, a) A_i',
    lambda_i(s, a) = sum_k |key_k(s)|_i * sigmoid(agent_k(s))_i * sigmoid(action_k(s, a))_i   (K heads).
Every A_i' is 0 at the agent's greedy action and below it elsewhere, so the greedy joint action maximises
Q_tot (the IGM principle) while lambda lets Q_tot express non-monotonic joint values. As in the paper's
code the advantages enter the lambda term without gradient: it trains lambda, and sum_i Q_i' trains the
agents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from modules.mixers.base import Mixer
from utils.component_config import AT_LEAST_1, config_of, key


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class QPLEXMixer(Mixer):
    extra_inputs = frozenset({"actions", "max_qs"})

    @dataclass(frozen=True)
    class Config:
        qplex_heads: int = key(10, "QPLEX: attention heads K of the advantage weights lambda_i(s, a)", AT_LEAST_1)
        qplex_hidden: int = key(64, "QPLEX: hidden width of its hyper-networks and of the weights' networks", AT_LEAST_1)

    def __init__(self, args: Any, state_dim: int | None = None):
        super().__init__()
        cfg = config_of(self.Config, args)
        self.n_agents = n = args.n_agents
        self.heads = cfg.qplex_heads
        self.state_dim = int(args.state_shape) if state_dim is None else state_dim
        joint_actions = n * args.n_actions
        self.weight = _mlp(self.state_dim, cfg.qplex_hidden, n)  # w_i(s), made positive
        self.bias = _mlp(self.state_dim, cfg.qplex_hidden, n)  # b_i(s)
        self.key = _mlp(self.state_dim, cfg.qplex_hidden, self.heads * n)
        self.agent = nn.Linear(self.state_dim, self.heads * n)
        self.action = _mlp(self.state_dim + joint_actions, cfg.qplex_hidden, self.heads * n)

    def lambdas(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The positive importance weights `[rows, agents]` for states `[rows, state]` and the one-hot joint
        actions `[rows, agents * actions]`."""
        rows = states.shape[0]
        key = self.key(states).abs().view(rows, self.heads, self.n_agents) + 1e-10
        agent = torch.sigmoid(self.agent(states)).view(rows, self.heads, self.n_agents)
        action = torch.sigmoid(self.action(torch.cat([states, actions], dim=1))).view(rows, self.heads, self.n_agents)
        return (key * agent * action).sum(dim=1)

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor, actions: torch.Tensor, max_qs: torch.Tensor) -> torch.Tensor:
        """agent_qs, max_qs `[B, T, agents]`, states `[B, T, state]`, actions one-hot `[B, T, agents, actions]`
        -> Q_tot `[B, T, 1]`."""
        bs, t = agent_qs.shape[:2]
        s = states.reshape(-1, self.state_dim)
        w = self.weight(s).abs() + 1e-10
        b = self.bias(s)
        q = w * agent_qs.reshape(-1, self.n_agents) + b
        v = w * max_qs.reshape(-1, self.n_agents) + b
        advantages = (q - v).detach()
        lam = self.lambdas(s, actions.reshape(bs * t, -1))
        q_tot = q.sum(dim=1) + ((lam - 1.0) * advantages).sum(dim=1)
        return q_tot.view(bs, t, 1)

"""QMIX: a monotonic mixing network whose weights come from hyper-networks of the global state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from modules.mixers.base import Mixer
from modules.mixers.small_bmm import small_bmm
from utils.component_config import AT_LEAST_1, config_of, key


def _hypernet(in_dim: int, out_dim: int, hidden: int, layers: int) -> nn.Module:
    if layers == 1:
        return nn.Linear(in_dim, out_dim)
    if layers == 2:
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
    raise ValueError(f"hypernet_layers must be 1 or 2, got {layers}")


class QMixer(Mixer):
    """Q_tot = w2^T elu(W1^T q + b1) + b2 with |W1|, |w2| >= 0, so dQ_tot/dQ_i >= 0.

    `state_dim` is the width of the conditioning input; it defaults to the env state but may include
    extra features (e.g. salemb's imagination encoding).
    """

    @dataclass(frozen=True)
    class Config:
        mixing_embed_dim: int = key(32, "width of QMIX's mixing network", AT_LEAST_1)
        hypernet_layers: int = key(2, "layers of QMIX's hyper-networks (1 or 2)", (lambda v: v in (1, 2), "1 or 2"))
        hypernet_embed: int = key(64, "width of QMIX's 2-layer hyper-networks", AT_LEAST_1)
        mixer_abs: bool = key(True, "QMIX: absolute value of the mixing weights (monotonic mixing)")

    def __init__(self, args: Any, state_dim: int | None = None):
        super().__init__()
        cfg = config_of(self.Config, args)
        self.n_agents = args.n_agents
        self.state_dim = int(args.state_shape) if state_dim is None else state_dim
        self.embed_dim = cfg.mixing_embed_dim
        hidden = cfg.hypernet_embed
        layers = cfg.hypernet_layers
        self.hyper_w_1 = _hypernet(self.state_dim, self.embed_dim * self.n_agents, hidden, layers)
        self.hyper_w_final = _hypernet(self.state_dim, self.embed_dim, hidden, layers)
        self.hyper_b_1 = nn.Linear(self.state_dim, self.embed_dim)
        self.V = nn.Sequential(nn.Linear(self.state_dim, self.embed_dim), nn.ReLU(), nn.Linear(self.embed_dim, 1))
        self.abs_weights = cfg.mixer_abs

    def _positive(self, w: torch.Tensor) -> torch.Tensor:
        return w.abs() if self.abs_weights else F.elu(w) + 1

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """agent_qs `[batch, time, agents]`, states `[batch, time, state_dim]` -> Q_tot `[batch, time, 1]`."""
        bs, t = agent_qs.shape[:2]
        s = states.reshape(-1, self.state_dim)
        qs = agent_qs.reshape(-1, 1, self.n_agents)
        w1 = self._positive(self.hyper_w_1(s)).view(-1, self.n_agents, self.embed_dim)
        b1 = self.hyper_b_1(s).view(-1, 1, self.embed_dim)
        hidden = F.elu(small_bmm(qs, w1) + b1)
        w_final = self._positive(self.hyper_w_final(s)).view(-1, self.embed_dim, 1)
        v = self.V(s).view(-1, 1, 1)
        y = small_bmm(hidden, w_final) + v
        return y.view(bs, t, 1)

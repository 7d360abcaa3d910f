"""The PyMARL recurrent agent, shared by all agents: fc -> GRU -> Q-values for every action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from modules.agents.gru_agent_base import GRUAgentBase, QHead
from utils.component_config import config_of, key


class RNNAgent(GRUAgentBase):
    @dataclass(frozen=True)
    class Config(GRUAgentBase.Config):
        use_layer_norm: bool = key(False, "layer norm on the agents' GRU state")
        use_orthogonal: bool = key(False, "orthogonal initialisation of the agents' layers")
        gain: float = key(1.0, "gain of that orthogonal initialisation")

    def __init__(self, input_shape: int, args: Any):
        cfg = config_of(self.Config, args)
        super().__init__(input_shape, cfg.rnn_hidden_dim)
        self.fc2 = nn.Linear(self.hidden_dim, args.n_actions)
        self.layer_norm = nn.LayerNorm(self.hidden_dim) if cfg.use_layer_norm else None
        if cfg.use_orthogonal:
            for module in (self.fc1, self.fc2):
                nn.init.orthogonal_(module.weight, gain=cfg.gain)
                nn.init.zeros_(module.bias)

    def q_values(self, inputs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Q for every action from GRU outputs h `[..., hidden]` -> `[..., actions]` (inputs unused here). fc2 as
        F.linear on its parameters: module calls cost ~2 us each, a fifth of an acting step's agent."""
        e = h if self.layer_norm is None else self.layer_norm(h)
        return F.linear(e, self.fc2.weight, self.fc2.bias)

    def acting_head(self) -> QHead:
        """fc2 as the `addmm` that `F.linear` calls, on a transposed view taken now (`q_values` with a layer norm)."""
        if self.layer_norm is not None:
            return self.q_values
        w2t, b2 = self.fc2.weight.t(), self.fc2.bias
        return lambda inputs, h: torch.addmm(b2, h, w2t)

    def numpy_step(self, w: dict[str, np.ndarray], inputs: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`forward` in numpy on the weights `w` of `numpy_weights()`: inputs `[N, input]`, hidden `[N, hidden]`
        -> (Q `[N, actions]`, hidden), float32, equal to `forward` up to float32 rounding."""
        h = self.numpy_hidden_step(w, inputs, h)
        e = h
        if self.layer_norm is not None:
            centred = h - h.mean(axis=-1, keepdims=True)
            var = (centred * centred).mean(axis=-1, keepdims=True)
            e = centred / np.sqrt(var + np.float32(self.layer_norm.eps)) * w["layer_norm.weight"] + w["layer_norm.bias"]
        return e @ w["fc2.weight"] + w["fc2.bias"], h

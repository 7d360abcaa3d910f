"""The PyMARL recurrent agent, shared by all agents: fc -> GRU -> Q-values for every action.

The recurrence is an `nn.GRU` (the same parameters as PyMARL's GRUCell), so acting runs one step and
learning unrolls a whole sequence in one call instead of a Python loop over time.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


class RNNAgent(nn.Module):
    def __init__(self, input_shape: int, args: Any):
        super().__init__()
        self.hidden_dim = args.rnn_hidden_dim
        self.fc1 = nn.Linear(input_shape, self.hidden_dim)
        self.rnn = nn.GRU(self.hidden_dim, self.hidden_dim, batch_first=True)
        self.fc2 = nn.Linear(self.hidden_dim, args.n_actions)
        self.layer_norm = nn.LayerNorm(self.hidden_dim) if getattr(args, "use_layer_norm", False) else nn.Identity()
        if getattr(args, "use_orthogonal", False):
            for module in (self.fc1, self.fc2):
                nn.init.orthogonal_(module.weight, gain=getattr(args, "gain", 1.0))
                nn.init.zeros_(module.bias)

    def init_hidden(self) -> torch.Tensor:
        return self.fc1.weight.new_zeros(1, self.hidden_dim)

    def forward(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step. inputs `[N, input]`, hidden `[N, hidden]` (N = batch * agents) -> (Q `[N, actions]`, hidden)."""
        h = self.hidden_step(inputs, hidden_state)
        return self.fc2(self.layer_norm(h)), h

    def hidden_step(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> torch.Tensor:
        """One GRU step with the sequence GRU's own weights (a cell call is cheaper than a length-1 sequence)."""
        x = F.relu(self.fc1(inputs))
        rnn = self.rnn
        return torch.gru_cell(
            x, hidden_state.reshape(-1, self.hidden_dim), rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
        )

    def forward_seq(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A sequence. inputs `[N, T, input]`, hidden `[N, hidden]` -> (Q `[N, T, actions]`, last hidden `[N, hidden]`)."""
        h_seq = self.hidden_sequence(inputs, hidden_state)
        return self.q_values(inputs, h_seq), h_seq[:, -1]

    def q_values(self, inputs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Q for every action from GRU outputs h `[..., hidden]` -> `[..., actions]` (inputs unused here)."""
        return self.fc2(self.layer_norm(h))

    def hidden_sequence(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> torch.Tensor:
        """GRU outputs `[N, T, hidden]` for inputs `[N, T, input]`."""
        x = F.relu(self.fc1(inputs))
        h_seq, _ = self.rnn(x, hidden_state.reshape(1, -1, self.hidden_dim).contiguous())
        return h_seq

"""The recurrent body every GRU agent shares: fc -> ReLU -> GRU, and the step/sequence calls on it.

The recurrence is an `nn.GRU` (the same parameters as PyMARL's GRUCell), so acting runs one step (a
`gru_cell` call on the sequence GRU's own weights) and learning unrolls a whole sequence in one call
instead of a Python loop over time. A subclass adds its heads after calling `__init__` (so the body's
parameters are created, and drawn from the generator, first) and defines `q_values`.

`numpy_hidden_step` is the same step in numpy on views of the parameters (controllers' `act_backend:
numpy`): an acting step's few rows cost ~2 us a numpy call against ~5-10 us a torch op. The numbers agree
to float32 rounding, not bitwise (another matmul and other sigmoid/tanh kernels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.component_config import AT_LEAST_1, key

ActingStep = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
QHead = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class GRUAgentBase(nn.Module):
    @dataclass(frozen=True)
    class Config:
        rnn_hidden_dim: int = key(64, "width of the agents' GRU", AT_LEAST_1)

    def __init__(self, input_shape: int, hidden_dim: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.fc1 = nn.Linear(input_shape, hidden_dim)
        self.rnn = nn.GRU(hidden_dim, hidden_dim, batch_first=True)

    def init_hidden(self) -> torch.Tensor:
        return self.fc1.weight.new_zeros(1, self.hidden_dim)

    def q_values(self, inputs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Q for every action: inputs `[..., input]`, GRU outputs h `[..., hidden]` -> `[..., actions]`."""
        raise NotImplementedError

    def forward(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step. inputs `[N, input]`, hidden `[N, hidden]` (N = batch * agents) -> (Q `[N, actions]`, hidden)."""
        h = self.hidden_step(inputs, hidden_state)
        return self.q_values(inputs, h), h

    def forward_seq(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A sequence. inputs `[N, T, input]`, hidden `[N, hidden]` -> (Q `[N, T, actions]`, last hidden `[N, hidden]`)."""
        h_seq = self.hidden_sequence(inputs, hidden_state)
        return self.q_values(inputs, h_seq), h_seq[:, -1]

    def hidden_step(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> torch.Tensor:
        """One GRU step `[N, hidden]` with the sequence GRU's own weights (cheaper than a length-1 sequence).
        fc1 as F.linear on its parameters, what its forward computes, without a module call's ~2 us."""
        x = F.relu(F.linear(inputs, self.fc1.weight, self.fc1.bias))
        rnn = self.rnn
        return torch.gru_cell(
            x, hidden_state.reshape(-1, self.hidden_dim), rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
        )

    def acting_step(self) -> ActingStep:
        """`forward` bound to the parameters as they are now, for the controller's acting steps: the same
        numbers (fc1 is the `addmm` that `F.linear` calls, on a transposed view taken here, then the same
        `gru_cell`) without a module call, the transposes and ~10 attribute lookups a step (8 envs: ~34 us
        against ~48). The views are taken with autograd on, so a step with gradients enabled reaches the
        weights. Take it again once a parameter's data may have been replaced (`.to()`)."""
        with torch.inference_mode(False):  # normal tensors, and grad mode on (as inference_mode(False) sets it)
            w1t, b1 = self.fc1.weight.t(), self.fc1.bias
            rnn = self.rnn
            gru = (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
            head = self.acting_head()

        def step(inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = torch.gru_cell(torch.addmm(b1, inputs, w1t).relu_(), hidden, *gru)
            return head(inputs, h), h

        return step

    def acting_head(self) -> QHead:
        """`q_values` for `acting_step` (called there with autograd on): a subclass may bind its head to
        the parameters as they are now."""
        return self.q_values

    def numpy_weights(self) -> dict[str, np.ndarray]:
        """Every parameter as a numpy copy taken now, matrices transposed to `[in, out]` and contiguous:
        OpenBLAS multiplies 16 rows by a contiguous `[64, 192]` in ~5 us, through a transposed view in ~12.
        Copies, not views: the controller takes them at each batch's `init_hidden`, and no parameter
        changes while a batch is collected (`learn_ahead`'s optimiser step waits for the collection)."""
        return {name: p.detach().numpy().T.copy() for name, p in self.named_parameters()}

    def numpy_hidden_step(self, w: dict[str, np.ndarray], inputs: np.ndarray, h: np.ndarray) -> np.ndarray:
        """`hidden_step` in numpy with weights `w` from `numpy_weights`: inputs `[N, input]`, h `[N, hidden]`
        -> `[N, hidden]` float32. sigmoid(v) is computed as 0.5 * tanh(v / 2) + 0.5 (no overflow)."""
        H = self.hidden_dim
        x = np.maximum(inputs @ w["fc1.weight"] + w["fc1.bias"], 0.0)
        gi = x @ w["rnn.weight_ih_l0"] + w["rnn.bias_ih_l0"]
        gh = h @ w["rnn.weight_hh_l0"] + w["rnn.bias_hh_l0"]
        rz = np.tanh((gi[:, : 2 * H] + gh[:, : 2 * H]) * np.float32(0.5)) * np.float32(0.5) + np.float32(0.5)
        n = np.tanh(gi[:, 2 * H :] + rz[:, :H] * gh[:, 2 * H :])
        return n + rz[:, H:] * (h - n)

    def hidden_sequence(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> torch.Tensor:
        """GRU outputs `[N, T, hidden]` for inputs `[N, T, input]`."""
        x = F.relu(self.fc1(inputs))
        h_seq, _ = self.rnn(x, hidden_state.reshape(1, -1, self.hidden_dim).contiguous())
        return h_seq

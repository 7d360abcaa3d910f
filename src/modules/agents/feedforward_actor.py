"""The base of the deterministic actors for continuous actions (`mlp_actor`, `sale_actor`).

They are feed-forward (MaMuJoCo's observations describe the robot's joints fully), so their recurrent
state has width 0 and they run inside the controllers' recurrent interface (`init_hidden`,
`hidden_step`, `hidden_sequence`, `forward`) unchanged. A subclass defines `actions` and, if it learns
embeddings of (x, a) for the critic, `embeddings` and `embed_dim`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from utils.component_config import AT_LEAST_1, key


class FeedForwardActor(nn.Module):
    embed_dim = 0  # width of `embeddings`

    @dataclass(frozen=True)
    class Config:
        actor_hidden_dim: int = key(256, "width of the actors (mlp_actor, sale_actor)", AT_LEAST_1)

    def init_hidden(self) -> torch.Tensor:
        """An empty recurrent state `[1, 0]`."""
        return next(self.parameters()).new_zeros(1, 0)

    def hidden_step(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> torch.Tensor:
        """inputs `[N, input]` -> the empty state `[N, 0]`."""
        return inputs.new_zeros(inputs.shape[0], 0)

    def hidden_sequence(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> torch.Tensor:
        """inputs `[N, T, input]` -> empty states `[N, T, 0]`."""
        return inputs.new_zeros(*inputs.shape[:-1], 0)

    def forward(self, inputs: torch.Tensor, hidden_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: inputs `[N, input]` -> (actions `[N, D]`, the empty state)."""
        return self.actions(inputs, hidden_state), hidden_state

    def actions(self, inputs: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """inputs `[..., input]` (h unused) -> actions `[..., D]` in [-1, 1]: tanh of `pre_actions`."""
        return torch.tanh(self.pre_actions(inputs, h))

    def pre_actions(self, inputs: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """inputs `[..., input]` (h unused) -> the actions before the tanh `[..., D]`."""
        raise NotImplementedError

    def embeddings(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Learned embeddings of (inputs `[..., input]`, actions `[..., D]`) for the critic: `[..., embed_dim]`
        (none here)."""
        return inputs.new_zeros(*inputs.shape[:-1], 0)

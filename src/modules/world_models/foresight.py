"""Foresight encoder (MBVD-style): a GRU run backwards over a world-model roll-out.

The roll-out from a start step is the sequence of world-model states [d_k, z_k], k = 0..H (k = 0 is the
posterior at the start, k >= 1 the imagined prior steps). Reading it from the far end back to the start
ends the recurrence on the start state, so the encoding is "the start state, in the light of where it
leads". salemb's mixer reads [s_t, foresight_t] when `mixer_foresight` is on.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class ForesightEncoder(nn.Module):
    def __init__(self, deter_dim: int, latent_dim: int, foresight_dim: int):
        super().__init__()
        self.input_dim = deter_dim + latent_dim
        self.foresight_dim = foresight_dim
        self.gru = nn.GRU(self.input_dim, foresight_dim, batch_first=True)

    def forward(self, rollout: torch.Tensor) -> torch.Tensor:
        """rollout `[N, H + 1, deter + latent]` (start first) -> encoding `[N, foresight_dim]`."""
        _, h_last = self.gru(rollout.flip(1))
        return h_last[-1]

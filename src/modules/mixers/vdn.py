"""VDN: Q_tot is the sum of the agents' chosen-action values."""

from __future__ import annotations

from typing import Any

import torch

from modules.mixers.base import Mixer


class VDNMixer(Mixer):
    def __init__(self, args: Any = None):
        super().__init__()

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor | None = None) -> torch.Tensor:
        """agent_qs `[batch, time, agents]` -> Q_tot `[batch, time, 1]`."""
        return agent_qs.sum(dim=-1, keepdim=True)

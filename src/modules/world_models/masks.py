"""Which steps and transitions of an EpisodeBatch the world model may learn from."""

from __future__ import annotations

from typing import Any

import torch


def step_and_transition_masks(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean masks of valid steps and valid transitions.

    step [B, T]: `filled`. transition [B, T - 1]: step t and step t + 1 are filled and no termination
    happened at a step before t (the terminating transition itself is valid; its next step holds the
    final observation).
    """
    filled = batch["filled"][..., 0].bool()
    terminated = batch["terminated"][:, :-1, 0].bool()
    ended_before = torch.cumsum(terminated.long(), dim=1) - terminated.long() > 0
    transition = filled[:, :-1] & filled[:, 1:] & ~ended_before
    return filled, transition


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over the True entries of `mask` (same shape); 0 when none; NaN-safe off the mask."""
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / mask.sum().clamp(min=1)

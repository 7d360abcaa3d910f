"""Return targets for value learning, and the Polyak average that moves slow copies of networks."""

from __future__ import annotations

import torch
import torch.nn as nn


def build_td_lambda_targets(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    target_qs: torch.Tensor,
    gamma: float,
    td_lambda: float,
) -> torch.Tensor:
    """TD(lambda) targets for transitions 0..T-2.

    rewards, terminated, mask: `[batch, T-1, k]` (mask: valid transitions, zero after a termination and
    on padding); target_qs: `[batch, T, k]`, the bootstrap value of each state (k = 1 for a mixed value,
    n_agents for independent learners). Returns `[batch, T-1, k]`:
      G_t = r_t + gamma * (1 - d_t) * ((1 - lambda) * Q'_{t+1} + lambda * G_{t+1}),
    where G_{t+1} is replaced by Q'_{t+1} when t+1 starts no valid transition (the sequence was cut off
    there without terminating: a time-out, or the end of an imagined roll-out). Padded steps give 0.
    lambda = 0 gives one-step targets.
    The recursion is rewritten as G_t = c_t + e_t * G_{t+1}, with c and e computed for all t at once,
    so the loop over time is one fused multiply-add per step. With lambda = 0 every e_t is 0 and c_t is
    the one-step target, so the targets are computed without the loop.
    """
    q_next = target_qs[:, 1:]
    one_step = mask * (rewards + gamma * (1 - terminated) * (1 - td_lambda) * q_next)
    if td_lambda == 0:
        return one_step
    next_valid = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)
    b = mask * gamma * (1 - terminated) * td_lambda
    c = one_step + b * (1 - next_valid) * q_next
    e = b * next_valid
    ret = torch.empty_like(c)
    ret[:, -1] = c[:, -1]
    for t in range(rewards.shape[1] - 2, -1, -1):
        torch.addcmul(c[:, t], e[:, t], ret[:, t + 1], out=ret[:, t])
    return ret


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau source, parameter by parameter (grouped kernels; the same
    numbers as one multiply and add per tensor)."""
    with torch.no_grad():
        targets = list(target.parameters())
        if not targets:  # e.g. VDN's mixer
            return
        torch._foreach_mul_(targets, 1.0 - tau)
        torch._foreach_add_(targets, list(source.parameters()), alpha=tau)

"""Return targets for value learning."""

from __future__ import annotations

import torch


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
    """
    T1 = rewards.shape[1]
    ret = target_qs.new_zeros((target_qs.shape[0], T1, target_qs.shape[2]))
    next_ret = target_qs[:, -1]
    next_valid = torch.zeros_like(mask[:, 0])
    for t in range(T1 - 1, -1, -1):
        q_next = target_qs[:, t + 1]
        continuation = next_valid * next_ret + (1 - next_valid) * q_next
        ret[:, t] = mask[:, t] * (
            rewards[:, t] + gamma * (1 - terminated[:, t]) * ((1 - td_lambda) * q_next + td_lambda * continuation)
        )
        next_ret = ret[:, t]
        next_valid = mask[:, t]
    return ret

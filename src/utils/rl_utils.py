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
    """TD(lambda) targets for steps 0..T-2.

    rewards, terminated, mask: `[batch, T-1, k]`; target_qs: `[batch, T, k]` (bootstrap value of each
    state, k = 1 for a mixed value or n_agents for independent learners). Returns `[batch, T-1, k]` with
      G_t = r_t + gamma * (1 - d_t) * ((1 - lambda) * Q'_{t+1} + lambda * G_{t+1}),
    bootstrapping on Q' at the last step (zero if the episode terminated). Padded steps (mask = 0)
    contribute nothing. lambda = 0 gives one-step targets.
    """
    ret = target_qs.new_zeros(target_qs.shape)
    ret[:, -1] = target_qs[:, -1] * (1 - terminated.sum(dim=1).clamp(max=1))
    for t in range(ret.shape[1] - 2, -1, -1):
        ret[:, t] = td_lambda * gamma * ret[:, t + 1] + mask[:, t] * (
            rewards[:, t] + (1 - td_lambda) * gamma * target_qs[:, t + 1] * (1 - terminated[:, t])
        )
    return ret[:, :-1]

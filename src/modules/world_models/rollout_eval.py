"""Open-loop H-step prediction error of a world model on real episodes, against a copy-last baseline.

From the posterior state at every start step t of every episode (all B * T start points batched), the
prior is rolled forward with the real joint actions u_t, ..., u_{t+k-1}. At each k = 1..H:
  - observations: decoded o_{t+k} vs the real one (baseline: o_t), where transitions t..t+k-1 are valid;
  - rewards: predicted r_{t+k} (from the imagined state at t+k and the real u_{t+k}) vs the real one
    (baseline: r_{t-1}, with r_{-1} = 0), where transitions t..t+k are valid.
Errors are per-element squared errors, averaged over every valid (start, k) pair.
"""

from __future__ import annotations

from typing import Any

import torch

from components.action_spaces import action_vectors
from modules.world_models.masks import step_and_transition_masks


def _pad_time(x: torch.Tensor, extra: int) -> torch.Tensor:
    """Append `extra` zero steps on dim 1."""
    return torch.cat([x, x.new_zeros(x.shape[0], extra, *x.shape[2:])], dim=1)


def _mean(total: torch.Tensor, count: torch.Tensor) -> float:
    return float(total / count) if count > 0 else float("nan")


@torch.no_grad()
def rollout_error(model: Any, batch: Any, horizon: int) -> dict[str, float]:
    """Returns obs_mse, reward_mse, obs_mse_copy_last, reward_mse_copy_last (NaN when nothing is valid).

    `model` provides observe(batch), imagine_step(d, z, actions_onehot), decode(d, z, prev_obs, prev_state) and
    decode_transition(d, z, actions_onehot), as `VAEWorldModel` does.
    """
    d, z = model.observe(batch, sample=False)
    bs, seq_len = d.shape[:2]
    obs = batch["obs"].float()
    reward = batch["reward"][..., 0].float()
    actions = action_vectors(batch).float()
    _, trans_mask = step_and_transition_masks(batch)

    obs_p = _pad_time(obs, horizon)
    reward_p = _pad_time(reward, horizon)
    actions_p = _pad_time(actions, horizon)
    trans_p = _pad_time(trans_mask, horizon + 1)
    prev_reward = torch.cat([reward.new_zeros(bs, 1), reward[:, :-1]], dim=1)

    d_n = d.reshape(bs * seq_len, -1)
    z_n = z.reshape(bs * seq_len, -1)
    prev_obs = obs.reshape(bs * seq_len, *obs.shape[2:])
    prev_state = batch["state"].float().reshape(bs * seq_len, -1)
    alive = torch.ones_like(trans_p[:, :seq_len])
    sums = {k: obs.new_zeros(()) for k in ("obs", "obs_copy", "reward", "reward_copy")}
    obs_count = obs.new_zeros(())
    reward_count = obs.new_zeros(())
    for k in range(1, horizon + 1):
        alive = alive & trans_p[:, k - 1 : k - 1 + seq_len]
        step_actions = actions_p[:, k - 1 : k - 1 + seq_len].reshape(bs * seq_len, *actions.shape[2:])
        d_n, z_n = model.imagine_step(d_n, z_n, step_actions)
        decoded = model.decode(d_n, z_n, prev_obs, prev_state)
        prev_obs, prev_state = decoded["obs"], decoded["state"]
        pred_obs = prev_obs.view(bs, seq_len, *obs.shape[2:])
        target_obs = obs_p[:, k : k + seq_len]
        sums["obs"] += ((pred_obs - target_obs).pow(2).mean(dim=(-2, -1)) * alive).sum()
        sums["obs_copy"] += ((obs - target_obs).pow(2).mean(dim=(-2, -1)) * alive).sum()
        obs_count += alive.sum()

        reward_alive = alive & trans_p[:, k : k + seq_len]
        next_actions = actions_p[:, k : k + seq_len].reshape(bs * seq_len, *actions.shape[2:])
        pred_reward = model.decode_transition(d_n, z_n, next_actions)["reward"].view(bs, seq_len)
        target_reward = reward_p[:, k : k + seq_len]
        sums["reward"] += ((pred_reward - target_reward).pow(2) * reward_alive).sum()
        sums["reward_copy"] += ((prev_reward - target_reward).pow(2) * reward_alive).sum()
        reward_count += reward_alive.sum()
    return {
        "obs_mse": _mean(sums["obs"], obs_count),
        "reward_mse": _mean(sums["reward"], reward_count),
        "obs_mse_copy_last": _mean(sums["obs_copy"], obs_count),
        "reward_mse_copy_last": _mean(sums["reward_copy"], reward_count),
    }

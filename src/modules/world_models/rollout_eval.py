"""Open-loop H-step prediction error of a world model on real episodes, beside simple baselines.

From the posterior state at every start step t of every episode (all B * T start points batched), the
prior is rolled forward with the real joint actions u_t, ..., u_{t+k-1}. At each k = 1..H:
  - observations: decoded o_{t+k} vs the real one (baseline copy-last: o_t), where transitions
    t..t+k-1 are valid; `obs_changed` is the same error over only the elements whose real value moved
    (o_{t+k} != o_t: an agent moved, a food was eaten, a unit was hit), where copy-last is always wrong;
  - state: decoded s_{t+k} vs the real one (baseline: s_t);
  - rewards and terminations of transition t+k: predicted from the imagined state at t+k and the real
    u_{t+k}, vs the real ones, where transitions t..t+k are valid; baselines: predict-zero (no reward,
    no termination) and, for rewards, copy-last (r_{t+k-1}, with r_{-1} = 0). Termination error is the
    squared error of the predicted probability (Brier score).
Errors are per-element squared errors, averaged over every valid (start, k) pair. `rollout_error_sums`
returns the sums and counts so that checks on several batches can be pooled (`finish_rollout_error`).
"""

from __future__ import annotations

from typing import Any

import torch

from components.action_spaces import action_vectors
from modules.world_models.masks import step_and_transition_masks

# error name -> the count it is averaged over
ERROR_COUNTS = {
    "obs_mse": "obs", "obs_mse_copy_last": "obs",
    "obs_changed_mse": "obs_changed", "obs_changed_mse_copy_last": "obs_changed",
    "state_mse": "obs", "state_mse_copy_last": "obs",
    "reward_mse": "reward", "reward_mse_copy_last": "reward", "reward_mse_zero": "reward",
    "term_mse": "reward", "term_mse_zero": "reward",
}


def _pad_time(x: torch.Tensor, extra: int) -> torch.Tensor:
    """Append `extra` zero steps on dim 1."""
    return torch.cat([x, x.new_zeros(x.shape[0], extra, *x.shape[2:])], dim=1)


@torch.no_grad()
def rollout_error_sums(model: Any, batch: Any, horizon: int) -> dict[str, float]:
    """Summed squared errors (keys of `ERROR_COUNTS`) and their counts (`count_obs`, `count_obs_changed`,
    `count_reward`) over the batch's valid (start, k) pairs.

    `model` provides observe(batch), imagine_step(d, z, actions_onehot), decode(d, z, prev_obs, prev_state)
    and decode_transition(d, z, actions_onehot), as the registered world models do.
    """
    d, z = model.observe(batch, sample=False)
    bs, seq_len = d.shape[:2]
    obs = batch["obs"].float()
    state = batch["state"].float()
    reward = batch["reward"][..., 0].float()
    term = batch["terminated"][..., 0].float()
    actions = action_vectors(batch).float()
    _, trans_mask = step_and_transition_masks(batch)

    obs_p, state_p = _pad_time(obs, horizon), _pad_time(state, horizon)
    reward_p, term_p = _pad_time(reward, horizon), _pad_time(term, horizon)
    actions_p = _pad_time(actions, horizon)
    trans_p = _pad_time(trans_mask, horizon + 1)
    prev_reward = torch.cat([reward.new_zeros(bs, 1), reward[:, :-1]], dim=1)

    d_n = d.reshape(bs * seq_len, -1)
    z_n = z.reshape(bs * seq_len, -1)
    prev_obs = obs.reshape(bs * seq_len, *obs.shape[2:])
    prev_state = state.reshape(bs * seq_len, -1)
    alive = torch.ones_like(trans_p[:, :seq_len])
    sums = {k: 0.0 for k in ERROR_COUNTS} | {"count_obs": 0.0, "count_obs_changed": 0.0, "count_reward": 0.0}
    for k in range(1, horizon + 1):
        alive = alive & trans_p[:, k - 1 : k - 1 + seq_len]
        step_actions = actions_p[:, k - 1 : k - 1 + seq_len].reshape(bs * seq_len, *actions.shape[2:])
        d_n, z_n = model.imagine_step(d_n, z_n, step_actions)
        decoded = model.decode(d_n, z_n, prev_obs, prev_state)
        prev_obs, prev_state = decoded["obs"], decoded["state"]
        live = alive.float()
        target_obs = obs_p[:, k : k + seq_len]
        obs_err = (prev_obs.view(bs, seq_len, *obs.shape[2:]) - target_obs).pow(2)
        copy_err = (obs - target_obs).pow(2)
        sums["obs_mse"] += float((obs_err.mean(dim=(-2, -1)) * live).sum())
        sums["obs_mse_copy_last"] += float((copy_err.mean(dim=(-2, -1)) * live).sum())
        changed = (copy_err > 0) & alive[..., None, None]
        sums["obs_changed_mse"] += float(obs_err[changed].sum())
        sums["obs_changed_mse_copy_last"] += float(copy_err[changed].sum())
        sums["count_obs_changed"] += float(changed.sum())
        target_state = state_p[:, k : k + seq_len]
        state_err = (prev_state.view(bs, seq_len, -1) - target_state).pow(2).mean(dim=-1)
        sums["state_mse"] += float((state_err * live).sum())
        sums["state_mse_copy_last"] += float(((state - target_state).pow(2).mean(dim=-1) * live).sum())
        sums["count_obs"] += float(live.sum())

        reward_live = (alive & trans_p[:, k : k + seq_len]).float()
        next_actions = actions_p[:, k : k + seq_len].reshape(bs * seq_len, *actions.shape[2:])
        trans = model.decode_transition(d_n, z_n, next_actions)
        target_reward, target_term = reward_p[:, k : k + seq_len], term_p[:, k : k + seq_len]
        pred_reward = trans["reward"].view(bs, seq_len)
        pred_term = torch.sigmoid(trans["term_logit"]).view(bs, seq_len)
        sums["reward_mse"] += float(((pred_reward - target_reward).pow(2) * reward_live).sum())
        sums["reward_mse_copy_last"] += float(((prev_reward - target_reward).pow(2) * reward_live).sum())
        sums["reward_mse_zero"] += float((target_reward.pow(2) * reward_live).sum())
        sums["term_mse"] += float(((pred_term - target_term).pow(2) * reward_live).sum())
        sums["term_mse_zero"] += float((target_term.pow(2) * reward_live).sum())
        sums["count_reward"] += float(reward_live.sum())
    return sums


def add_sums(total: dict[str, float] | None, sums: dict[str, float]) -> dict[str, float]:
    """Pool two results of `rollout_error_sums` (`total` None: start a new pool)."""
    if total is None:
        return dict(sums)
    return {k: total[k] + sums[k] for k in total}


def finish_rollout_error(sums: dict[str, float]) -> dict[str, float]:
    """Mean errors from pooled sums (NaN where nothing was valid), and `episodes` if the pool counted them."""
    errors = {
        name: sums[name] / sums[f"count_{count}"] if sums[f"count_{count}"] > 0 else float("nan")
        for name, count in ERROR_COUNTS.items()
    }
    if "episodes" in sums:
        errors["episodes"] = sums["episodes"]
    return errors


def rollout_error(model: Any, batch: Any, horizon: int) -> dict[str, float]:
    """Mean errors (keys of `ERROR_COUNTS`) of one batch; NaN when nothing is valid."""
    return finish_rollout_error(rollout_error_sums(model, batch, horizon))

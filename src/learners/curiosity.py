"""The world model's surprise as an exploration bonus on real transitions (salemb's `curiosity_coef`).

Imagined data is at best as good as real data, so at the Q-learner's budget imagination can add at most
what more real data adds (docs/salemb.md, "What a perfect model could add"): about +10% on LBF
8x8-2p-3f, nothing on the coop task, which is bound by exploration. The model can also steer what is
collected: a transition it predicts badly is one the team has seen little of (ICM, Pathak et al. 2017;
RND's normalisation, Burda et al. 2019). The bonus is computed with the current model when a batch is
learnt from, so it fades as the model learns those transitions.
"""

from __future__ import annotations

from typing import Any

import torch

from components.action_spaces import action_vectors
from modules.world_models.masks import step_and_transition_masks


@torch.no_grad()
def one_step_surprise(model: Any, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's one-step observation error of every transition, `[B, T-1]`: from the real step t under
    the real joint action, the mean squared error over every agent's observation elements of the
    predicted o_{t+1} against the real one (the prior's mean, no sampling); and the valid-transition mask
    `[B, T-1]` (`step_and_transition_masks`), 0 error off it."""
    d, z = model.observe(batch, sample=False)
    B, T = d.shape[:2]
    obs = batch["obs"].float()
    actions = action_vectors(batch).float()[:, :-1]
    rows = B * (T - 1)
    d_next, z_next = model.imagine_step(
        d[:, :-1].reshape(rows, -1), z[:, :-1].reshape(rows, -1), actions.reshape(rows, *actions.shape[2:])
    )
    prev_obs = obs[:, :-1].reshape(rows, *obs.shape[2:])
    prev_state = batch["state"][:, :-1].float().reshape(rows, -1)
    predicted = model.decode(d_next, z_next, prev_obs, prev_state)["obs"].view(B, T - 1, *obs.shape[2:])
    _, valid = step_and_transition_masks(batch)
    error = (predicted - obs[:, 1:]).pow(2).mean(dim=(-2, -1))
    return torch.where(valid, error, torch.zeros_like(error)), valid


def curiosity_bonus(model: Any, batch: Any, coef: float, clip: float) -> torch.Tensor:
    """`coef` x (each transition's surprise over the batch's mean surprise, capped at `clip`, minus 1):
    `[B, T-1, 1]`, 0 off the valid transitions. Dividing by the batch's mean keeps the bonus's scale fixed
    while the model's error falls; the cap keeps the rare transitions no model predicts (a food eaten, a
    unit killed) from outweighing the reward; taking 1 off centres it, so that it adds no reward per step
    on average, which would pay the team for making episodes last (LBF ends an episode when every food
    is eaten)."""
    surprise, valid = one_step_surprise(model, batch)
    mean = surprise.sum() / valid.sum().clamp(min=1)
    relative = (surprise / mean.clamp(min=1e-12)).clamp(max=clip) - 1.0
    return (coef * torch.where(valid, relative, torch.zeros_like(relative))).unsqueeze(-1)

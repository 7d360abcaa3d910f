"""Diagonal Gaussians for the world model's latent: parameter heads, KL, and balanced KL with free nats."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_params(raw: torch.Tensor, min_std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split raw [..., 2 * D] into mean [..., D] and std = softplus(.) + min_std [..., D]."""
    mean, pre_std = raw.chunk(2, dim=-1)
    return mean, F.softplus(pre_std) + min_std


def diag_gaussian_kl(
    mean_p: torch.Tensor, std_p: torch.Tensor, mean_q: torch.Tensor, std_q: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean_p, std_p^2) || N(mean_q, std_q^2)) summed over the last dim: [..., D] -> [...]."""
    var_ratio = (std_p / std_q) ** 2
    mean_term = ((mean_p - mean_q) / std_q) ** 2
    return 0.5 * (var_ratio + mean_term - 1.0 - torch.log(var_ratio)).sum(dim=-1)


def balanced_kl(
    post_mean: torch.Tensor,
    post_std: torch.Tensor,
    prior_mean: torch.Tensor,
    prior_std: torch.Tensor,
    alpha: float,
    free_nats: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """KL balancing with free nats, per step.

    loss = alpha * max(KL(sg(post) || prior), free) + (1 - alpha) * max(KL(post || sg(prior)), free),
    each KL summed over the latent dims. Inputs [..., D]; returns (loss [...], plain KL(post || prior) [...],
    the latter detached, for logging).
    """
    to_prior = diag_gaussian_kl(post_mean.detach(), post_std.detach(), prior_mean, prior_std)
    to_post = diag_gaussian_kl(post_mean, post_std, prior_mean.detach(), prior_std.detach())
    loss = alpha * to_prior.clamp(min=free_nats) + (1.0 - alpha) * to_post.clamp(min=free_nats)
    return loss, to_post.detach()

"""How the joint action enters the world model's transition: joint SALE or a plain action embedding.

`JointSALE` is TD7's state-action learned embedding over the team: f_joint(z) = AvgL1Norm(MLP(z)) embeds
the latent, g_joint([f_joint(z), u]) embeds the latent together with the flattened joint action one-hot.
`JointActionEmbedding` is the ablation without SALE (a linear embedding of the joint action only).
Both map (z [..., latent], u [..., n_agents * n_actions]) to c [..., embed_dim].
"""

from __future__ import annotations

import torch
import torch.nn as nn

from modules.sale import activation_module, avg_l1_norm


class JointSALE(nn.Module):
    """Joint state-action embedding of a latent z [..., latent_dim] and a joint action u [..., action_dim]."""

    def __init__(self, latent_dim: int, action_dim: int, hidden_dim: int, embed_dim: int, act: str = "elu"):
        super().__init__()
        self.f_net = nn.Sequential(nn.Linear(latent_dim, hidden_dim), activation_module(act), nn.Linear(hidden_dim, embed_dim))
        self.g_net = nn.Sequential(
            nn.Linear(embed_dim + action_dim, hidden_dim), activation_module(act), nn.Linear(hidden_dim, embed_dim)
        )

    def state_embed(self, z: torch.Tensor) -> torch.Tensor:
        """f_joint(z) -> z_s [..., embed_dim], AvgL1Norm-ed."""
        return avg_l1_norm(self.f_net(z))

    def forward(self, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """g_joint(f_joint(z), u) -> z_sa [..., embed_dim] (no normalisation)."""
        return self.g_net(torch.cat([self.state_embed(z), u], dim=-1))


class JointActionEmbedding(nn.Module):
    """Ablation: c = W u, a linear embedding of the joint action that ignores the latent."""

    def __init__(self, action_dim: int, embed_dim: int):
        super().__init__()
        self.linear = nn.Linear(action_dim, embed_dim)

    def forward(self, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """z [..., latent] (unused), u [..., action_dim] -> c [..., embed_dim]."""
        return self.linear(u)

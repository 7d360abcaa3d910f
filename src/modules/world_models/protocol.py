"""What a world model is to salemb's learners, imagination runner and accuracy check (`vae`, `step_vae`).

A world model is an `nn.Module` built as `Model(state_dim, obs_dim, n_agents, n_actions, args)` with its
keys in its `Config`. Its latent state is a pair (d, z): a deterministic part d `[N, deter_dim]` and a
stochastic part z `[N, latent_dim]` (for `step_vae`, d is the decoded step itself and z is unused).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch


class WorldModel(Protocol):
    deter_dim: int
    latent_dim: int
    rng: torch.Generator | None  # its own generator (`wm_rng: own`), or None: torch's global one

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss (0-dim) on a batch of episodes or windows `[B, T, ...]`, and its detached parts."""

    def observe(self, batch: Any, sample: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior latent states of a real batch: d `[B, T, deter_dim]`, z `[B, T, latent_dim]`."""

    def imagine_step(
        self, d: torch.Tensor, z: torch.Tensor, actions_onehot: torch.Tensor, sample: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One imagined step from (d, z) `[N, ...]` under the joint action `[N, n_agents, n_actions]` ->
        the next (d, z); z is the prior's mean unless `sample`."""

    def decode(
        self, d: torch.Tensor, z: torch.Tensor, prev_obs: torch.Tensor | None = None, prev_state: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """A step's "obs" `[..., n_agents, obs]`, "state" `[..., state]` and "avail_logits"
        `[..., n_agents, n_actions]` (the previous step's obs and state where the model predicts changes)."""

    def decode_transition(self, d: torch.Tensor, z: torch.Tensor, actions_onehot: torch.Tensor) -> dict[str, torch.Tensor]:
        """A transition's "reward" `[..., 1]` and "term_logit" `[..., 1]`."""

    def rollout_error(self, batch: Any, horizon: int) -> dict[str, float]:
        """H-step prediction errors on real episodes beside copy-last and predict-zero (`rollout_eval`)."""

    def rng_state(self) -> torch.Tensor | None:
        """Its own generator's state for checkpoints (None with the global one)."""

    def set_rng_state(self, state: torch.Tensor | None) -> None: ...

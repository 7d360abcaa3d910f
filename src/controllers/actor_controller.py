"""Multi-agent controller for continuous actions: deterministic actors, one network shared by the agents.

The agent (`mlp_actor`, `sale_actor`) outputs actions in [-1, 1]^D; `select_actions` adds the action
selector's exploration (`gaussian`: Gaussian noise, uniformly random start steps) and zeroes each agent's
padded dimensions. Inputs are BasicMAC's: [obs, last action vector (with `obs_last_action`), agent id].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from components.episode_buffer import EpisodeBatch
from controllers.basic_controller import BasicMAC
from utils.component_config import key


class ActorMAC(BasicMAC):
    @dataclass(frozen=True)
    class Config:
        act_backend: str = key("torch", "acting steps in torch (the actors have no numpy step)", choices=("torch",))

    def agent_outputs(self, inputs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The actors' actions for inputs `[N, T, input]` and recurrent states `[N, T, hidden]`: `[N, T, D]`."""
        return self.agent.actions(inputs, h)

    def actions(self, batch: EpisodeBatch) -> torch.Tensor:
        """Every step's actions without exploration, padded dimensions 0: `[batch, T, agents, D]`
        (differentiable with respect to the actor's parameters)."""
        return self.unroll(batch) * batch["avail_actions"].to(batch["obs"].dtype)

    def embeddings(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The actor's embeddings of (inputs `[..., agents, input]`, actions `[..., agents, D]`) that the
        critic reads: `[..., agents, embed_dim]` (width 0 for an actor without any)."""
        return self.agent.embeddings(inputs, actions)

    @property
    def embed_dim(self) -> int:
        return self.agent.embed_dim

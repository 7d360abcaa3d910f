"""World-model roll-outs from the steps of a batch, the input of salemb's foresight encoder.

From each chosen step t of each episode (all start points at once): the posterior state (d_t, z_t) of
the real prefix, the agents' hidden states just before t (from the real prefix, so the agents' input
at t is their real observation and real previous action), then H prior steps of the world model with
the current controller acting greedily on decoded observations, masked by decoded available actions.
Predicted terminations are ignored (as in MBVD): every roll-out has H steps. Nothing here is trained,
so it runs without a graph.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from components.episode_buffer import EpisodeBatch
from runners.imagination_runner import ensure_one_available


@torch.no_grad()
def foresight_rollout(
    world_model: Any, mac: Any, batch: EpisodeBatch, horizon: int, starts: torch.Tensor
) -> torch.Tensor:
    """World-model states along the roll-outs from the steps where `starts` `[B, T]` (bool) is set:
    `[N, H + 1, deter + latent]`, N = starts.sum(), rows in `starts.nonzero()` order; index 0 along
    the roll-out is the posterior at the start step."""
    B, T, A = batch.batch_size, batch.max_seq_length, mac.n_agents
    N = int(starts.sum())
    d_seq, z_seq = world_model.observe(batch, sample=False)
    d, z = d_seq[starts], z_seq[starts]

    inputs = mac.build_sequence_inputs(batch)  # [B, T, A, E]
    h0 = mac.agent.init_hidden().expand(B * A, -1)
    h_seq = mac.agent.hidden_sequence(inputs.transpose(1, 2).reshape(B * A, T, -1), h0)  # [B * A, T, hidden]
    h_before = torch.cat([h0.unsqueeze(1), h_seq[:, :-1]], dim=1)
    h = h_before.view(B, A, T, -1).transpose(1, 2)[starts].reshape(N * A, -1)
    x = inputs[starts].reshape(N * A, -1)
    avail = batch["avail_actions"][starts]  # [N, A, n_actions]
    obs, state = batch["obs"][starts].float(), batch["state"][starts].float()

    states = [torch.cat([d, z], dim=-1)]
    for k in range(horizon):
        q, h = mac.agent(x, h)
        q = q.view(N, A, -1).masked_fill(avail == 0, float("-inf"))
        actions = F.one_hot(q.argmax(dim=-1), avail.shape[-1]).float()  # [N, A, n_actions]
        d, z = world_model.imagine_step(d, z, actions)
        states.append(torch.cat([d, z], dim=-1))
        if k + 1 < horizon:
            decoded = world_model.decode(d, z, obs, state)
            obs, state = decoded["obs"], decoded["state"]
            logits = decoded["avail_logits"]
            avail = ensure_one_available((logits > 0).int(), logits)
            x = mac.agent_inputs(obs, actions).reshape(N * A, -1)
    return torch.stack(states, dim=1)

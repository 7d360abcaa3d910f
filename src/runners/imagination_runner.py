"""The `imagination` runner: roll-outs of the world model with the current controller acting.

Each roll-out starts at a step t0 of a real episode that is valid (filled and not after a termination):
by default one roll-out per real episode, at a random valid step; with `n_starts` that many roll-outs
from valid steps drawn across the whole batch (without replacement while there are enough), so that
imagination can start from every real step of a batch (MBPO's branching). The returned EpisodeBatch has
the real scheme and H + 2 steps per roll-out:
  index 0       a context step, unfilled: it holds only the real action taken at t0 - 1 (zeros when
                t0 = 0), the last action the agents read at t0;
  index 1       the real step t0 (observation, state, available actions), filled;
  index 2..H+1  observations, state and available actions decoded from the world model's prior;
with the actions chosen by the controller at indices 1..H and rewards and terminations from the world
model's transition heads. With continuous actions the imagined steps keep the real step's
`avail_actions` (each agent's action dimensions), and actions have no one-hot. A predicted termination ends that roll-out (later steps stay unfilled).
With `imagine_real_start_td: False` index 1 is marked unfilled too, so the TD loss skips the transition
from the real start (whose reward is predicted) and only imagined states take imagined targets.
The agents' recurrent state at t0 is not recomputed from the real prefix: the caller passes the GRU
outputs of its own pass over the real batch, and `hidden_before` picks the state after step t0 - 1 of
each roll-out's episode, the `h_init` of `BasicMAC.unroll_with_hidden` for this batch. Imagined steps never count toward `t_env`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from components.action_spaces import action_vectors, continuous_scheme
from components.episode_buffer import EpisodeBatch
from components.transforms import OneHot


def valid_starts(batch: EpisodeBatch) -> torch.Tensor:
    """`[batch, T]` bool: filled steps whose state is not terminal (no termination at an earlier step)."""
    filled = batch["filled"][:, :, 0].bool()
    terminated = batch["terminated"][:, :, 0].long()
    return filled & (torch.cumsum(terminated, dim=1) - terminated == 0)


@dataclass
class RolloutStarts:
    """Where each roll-out starts: the real episode `[N]` and its step t0 `[N]` (long tensors)."""

    episode: torch.Tensor
    step: torch.Tensor


def draw_starts(valid: torch.Tensor, n_starts: int | None) -> RolloutStarts:
    """Start points among the True entries of `valid` `[B, T]`: one per episode (`n_starts` None), or
    `n_starts` across the batch, without replacement while the batch has that many valid steps."""
    if n_starts is None:
        return RolloutStarts(torch.arange(valid.shape[0], device=valid.device), torch.multinomial(valid.float(), 1).squeeze(1))
    flat = valid.flatten().float()
    picks = torch.multinomial(flat, n_starts, replacement=n_starts > int(flat.sum()))
    return RolloutStarts(picks // valid.shape[1], picks % valid.shape[1])


def ensure_one_available(avail: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Make the most likely action available wherever the predicted mask has none `[..., n_actions]`."""
    none = avail.sum(-1, keepdim=True) == 0
    best = torch.zeros_like(avail).scatter_(-1, logits.argmax(-1, keepdim=True), 1)
    return torch.where(none, best, avail)


class ImaginationRunner:
    def __init__(self, args: Any, world_model: Any, mac: Any, scheme: dict[str, Any]):
        """`scheme`: the real batches' scheme without `filled` and `actions_onehot`."""
        self.args = args
        self.world_model = world_model
        self.mac = mac
        self.scheme = scheme
        self.groups = {"agents": args.n_agents}
        self.continuous = continuous_scheme(scheme)
        self.preprocess = {} if self.continuous else {"actions": ("actions_onehot", [OneHot(out_dim=args.n_actions)])}
        self.horizon = args.imagine_horizon
        self.test_mode = args.imagine_greedy
        self.epsilon = args.imagine_epsilon
        self.real_start_td = args.imagine_real_start_td

    @torch.no_grad()
    def run(
        self, real: EpisodeBatch, t_env: int, hidden: torch.Tensor, n_starts: int | None = None
    ) -> tuple[EpisodeBatch, RolloutStarts]:
        """Imagined batch `[N, H + 2]` (see the module docstring; N = real.batch_size, or `n_starts`) and
        where each roll-out starts. `hidden`: the controller's GRU outputs over `real`,
        `[batch * agents, T, hidden]`."""
        H = self.horizon
        device = real.device
        starts = draw_starts(valid_starts(real), n_starts)
        ep, t0 = starts.episode, starts.step
        B = ep.shape[0]

        out = EpisodeBatch(self.scheme, self.groups, B, H + 2, preprocess=self.preprocess, device=device)
        data = out.transition_data
        has_prev = (t0 > 0).view(B, 1, 1)
        prev = (t0 - 1).clamp(min=0)
        data["actions"][:, 0] = real["actions"][ep, prev] * has_prev
        if not self.continuous:
            data["actions_onehot"][:, 0] = real["actions_onehot"][ep, prev] * has_prev
        for key in ("obs", "state", "avail_actions"):
            data[key][:, 1] = real[key][ep, t0]
        data["filled"][:, 1] = 1

        d_all, z_all = self.world_model.observe(real[:, : int(t0.max()) + 1], sample=False)
        d, z = d_all[ep, t0], z_all[ep, t0]
        self.mac.hidden_states = hidden_before(hidden, starts, self.mac).detach()
        alive = torch.ones(B, dtype=torch.bool, device=device)
        for j in range(1, H + 1):
            actions = self.mac.select_actions(out, t_ep=j, t_env=t_env, test_mode=self.test_mode, epsilon=self.epsilon).to(device)
            out.update({"actions": actions.reshape(B, self.args.n_agents, -1)}, ts=j, mark_filled=False)
            onehot = action_vectors(out)[:, j]
            trans = self.world_model.decode_transition(d, z, onehot)
            terminated = (torch.sigmoid(trans["term_logit"]) > 0.5).squeeze(-1) & alive
            data["reward"][:, j] = trans["reward"] * alive.unsqueeze(-1)
            data["terminated"][:, j] = terminated.unsqueeze(-1).to(torch.uint8)
            d, z = self.world_model.imagine_step(d, z, onehot)
            decoded = self.world_model.decode(d, z, data["obs"][:, j], data["state"][:, j])
            data["obs"][:, j + 1] = decoded["obs"]
            data["state"][:, j + 1] = decoded["state"]
            if self.continuous:
                data["avail_actions"][:, j + 1] = data["avail_actions"][:, 1]
            else:
                data["avail_actions"][:, j + 1] = ensure_one_available((decoded["avail_logits"] > 0).int(), decoded["avail_logits"])
            data["filled"][:, j + 1] = alive.unsqueeze(-1).to(data["filled"].dtype)
            alive = alive & ~terminated
        if not self.real_start_td:
            data["filled"][:, 1] = 0
        return out, starts


def hidden_before(hidden: torch.Tensor, starts: RolloutStarts, mac: Any) -> torch.Tensor:
    """The agents' hidden state after step t0 - 1 of each roll-out's episode (the initial state when
    t0 = 0): `hidden` `[batch * agents, T, hidden]` (GRU outputs, row b * agents + a) ->
    `[N * agents, hidden]` (row i * agents + a for roll-out i). Keeps the graph of `hidden`."""
    n_agents = mac.n_agents
    agent = torch.arange(n_agents, device=hidden.device)
    rows = (starts.episode.to(hidden.device).unsqueeze(1) * n_agents + agent).flatten()
    steps = (starts.step - 1).clamp(min=0).repeat_interleave(n_agents).to(hidden.device)
    picked = hidden[rows, steps]
    first = (starts.step == 0).repeat_interleave(n_agents).to(hidden.device).unsqueeze(-1)
    return torch.where(first, mac.agent.init_hidden().to(picked.dtype).expand_as(picked), picked)

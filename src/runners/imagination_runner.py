"""The `imagination` runner: roll-outs of the world model with the current controller acting.

Each real episode in a batch gives one roll-out, started at a random step t0 that is valid (filled and
not after a termination). The returned EpisodeBatch has the real scheme and `T_real + H` steps per
episode: steps 0..t0 copy the real prefix (so an agent unrolled from step 0 has the real hidden state and
last action at t0) with `filled = 0`, then H imagined transitions from t0 with `filled = 1`:
observations, state and available actions decoded from the world model's prior, rewards and
terminations from its transition heads. A predicted termination ends that roll-out (later steps stay
unfilled). Imagined steps never count toward `t_env`.
"""

from __future__ import annotations

from typing import Any

import torch

from components.episode_buffer import EpisodeBatch
from components.transforms import OneHot


def valid_starts(batch: EpisodeBatch) -> torch.Tensor:
    """`[batch, T]` bool: filled steps whose state is not terminal (no termination at an earlier step)."""
    filled = batch["filled"][:, :, 0].bool()
    terminated = batch["terminated"][:, :, 0].long()
    return filled & (torch.cumsum(terminated, dim=1) - terminated == 0)


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
        self.preprocess = {"actions": ("actions_onehot", [OneHot(out_dim=args.n_actions)])}
        self.horizon = args.imagine_horizon
        self.test_mode = getattr(args, "imagine_greedy", False)

    @torch.no_grad()
    def run(self, real: EpisodeBatch, t_env: int) -> EpisodeBatch:
        """Imagined batch `[real.batch_size, T_real + H]` (see the module docstring)."""
        B, T, H = real.batch_size, real.max_seq_length, self.horizon
        device = real.device
        starts = valid_starts(real)
        t0 = torch.multinomial(starts.float(), 1).squeeze(1)
        rows = torch.arange(B, device=device)

        out = EpisodeBatch(self.scheme, self.groups, B, T + H, preprocess=self.preprocess, device=device)
        for key, value in real.transition_data.items():
            out.transition_data[key][:, :T] = value
        self._clear_after_start(out, t0)

        d_all, z_all = self.world_model.observe(real, sample=False)
        d, z = d_all[rows, t0], z_all[rows, t0]
        self._prime_hidden(out, t0)
        alive = torch.ones(B, dtype=torch.bool, device=device)
        for k in range(H):
            j = t0 + k
            out.transition_data["filled"][rows[alive], j[alive]] = 1
            actions = self.mac.select_actions(out, t_ep=j, t_env=t_env, test_mode=self.test_mode).to(device)
            out.update({"actions": actions.unsqueeze(-1)}, bs=rows, ts=j, mark_filled=False)
            onehot = out["actions_onehot"][rows, j]
            trans = self.world_model.decode_transition(d, z, onehot)
            terminated = (torch.sigmoid(trans["term_logit"]) > 0.5).squeeze(-1) & alive
            out.transition_data["reward"][rows, j] = trans["reward"] * alive.unsqueeze(-1)
            out.transition_data["terminated"][rows, j] = terminated.unsqueeze(-1).to(torch.uint8)
            d, z = self.world_model.imagine_step(d, z, onehot)
            decoded = self.world_model.decode(d, z)
            avail = ensure_one_available((decoded["avail_logits"] > 0).int(), decoded["avail_logits"])
            out.transition_data["obs"][rows, j + 1] = decoded["obs"]
            out.transition_data["state"][rows, j + 1] = decoded["state"]
            out.transition_data["avail_actions"][rows, j + 1] = avail
            out.transition_data["filled"][rows[alive], (j + 1)[alive]] = 1
            alive = alive & ~terminated
        return out

    @staticmethod
    def _clear_after_start(out: EpisodeBatch, t0: torch.Tensor) -> None:
        """Zero everything from each episode's start step on (the roll-out writes it), and all `filled`."""
        T = out.max_seq_length
        after = torch.arange(T, device=t0.device).unsqueeze(0) > t0.unsqueeze(1)
        for data in out.transition_data.values():
            keep = ~after.view(*after.shape, *([1] * (data.dim() - 2)))
            data.mul_(keep.to(data.dtype))
        out.transition_data["filled"].zero_()

    def _prime_hidden(self, out: EpisodeBatch, t0: torch.Tensor) -> None:
        """Set the controller's hidden state to the real one just before step t0 of each episode."""
        mac = self.mac
        B = out.batch_size
        inputs = mac.build_sequence_inputs(out).transpose(1, 2).reshape(B * mac.n_agents, out.max_seq_length, -1)
        h0 = mac.agent.init_hidden().expand(B * mac.n_agents, -1)
        h_seq = mac.agent.hidden_sequence(inputs.to(mac.device), h0)
        h_seq = torch.cat([h0.unsqueeze(1), h_seq], dim=1)
        idx = t0.repeat_interleave(mac.n_agents).to(mac.device)
        mac.hidden_states = h_seq[torch.arange(B * mac.n_agents, device=mac.device), idx].contiguous()

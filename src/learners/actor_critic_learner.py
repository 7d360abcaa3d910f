"""FACMAC (Peng et al. 2021): the factored multi-agent actor-critic for continuous actions.

Deterministic actors mu_i(x_i) (the `actor_mac` controller, one network shared by the agents) and
per-agent critics Q_i(x_i, a_i) (one network shared by the agents, from the critic registry), combined
by a mixer from the mixer registry into Q_tot(s, Q_1, ..., Q_n); `mixer: null` trains every agent's
critic on the team reward alone (independent learners). On a batch `[B, T, ...]` of transitions
t = 0..T-2:
  critic: TD(lambda) on Q_tot towards r_t + gamma * Q_tot'(s_{t+1}, Q_i'(x_i, mu_i'(x_i))) of the target
          actors, critics and mixer (QLearner's targets, with the target actors' actions for the max);
  actor:  ascend Q_tot(s_t, Q_1(x_1, mu_1(x_1)), ..., Q_n(x_n, mu_n(x_n))): every agent's action gradient
          passes through the mixer (the centralised policy gradient).
Every part's gradient is taken from the same parameters and checked (`nan_policy`) before any optimiser
steps. Targets follow the online networks by Polyak averaging every update (`target_update_mode: soft`,
`target_update_tau`) or by hard copies every `target_update_interval` episodes. TD3's pieces are options:
target policy smoothing (`target_noise`, `target_noise_clip`) and delayed actor updates
(`actor_update_interval`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from components.action_spaces import continuous_scheme
from components.episode_buffer import EpisodeBatch
from learners.nonfinite import checked_values
from learners.q_learner import QLearner, make_optimiser
from modules.critics import REGISTRY as critic_REGISTRY
from utils.component_config import AT_LEAST_1, NON_NEGATIVE, POSITIVE, key
from utils.rl_utils import build_td_lambda_targets, soft_update


class ActorCriticLearner(QLearner):
    """QLearner's value-learning machinery (mixer, targets, reward standardisation, checkpoints) with a
    critic in place of Q-value agents and a policy-gradient step for the actors."""

    # its own `train` (no prepare/apply halves), and target smoothing draws from torch's global generator
    update_ahead = False
    lane_calls_ahead = 0  # never prepared ahead
    components = ("mixer", "critic")

    @dataclass(frozen=True)
    class Config:
        critic_lr: float = key(0.001, 'critic and mixer learning rate', POSITIVE)
        actor_lr: float = key(0.001, "actors' learning rate", POSITIVE)
        actor_preact_reg: float = key(0.0, 'weight of the mean square of the actions before the tanh in the actor loss (MADDPG/FACMAC: 0.001)', NON_NEGATIVE)
        target_noise: float = key(0.0, "TD3's target policy smoothing: std of the noise on the target actors' actions (0: off)", NON_NEGATIVE)
        target_noise_clip: float = key(0.5, 'that noise is clipped to +-target_noise_clip', NON_NEGATIVE)
        actor_update_interval: int = key(1, "critic updates per actor update (TD3's policy delay)", AT_LEAST_1)
        aux_grad_norm_clip: int = key(10, 'gradient clip of the SALE and world-model optimisers (decoupled mode)', POSITIVE)

    def __init__(self, mac: Any, scheme: dict[str, Any], logger: Any, args: Any):
        if not continuous_scheme(scheme):
            raise ValueError(
                f"learner '{args.learner}' needs continuous (Box) actions, but this env's actions are discrete; "
                "use q_learner (qmix, vdn, iql) or salemb_learner"
            )
        super().__init__(mac, scheme, logger, args)
        self.critic = critic_REGISTRY[args.critic](mac.input_shape, args.n_actions, mac.embed_dim, args)
        self.target_critic = copy.deepcopy(self.critic)
        sale = {id(p) for p in mac.agent.sale_parameters()} if hasattr(mac.agent, "sale_parameters") else set()
        self.groups = {
            "critic": list(self.critic.parameters()) + (list(self.mixer.parameters()) if self.mixer is not None else []),
            "actor": [p for p in mac.parameters() if p.requires_grad and id(p) not in sale],
        }
        self.optimisers = {
            "critic": make_optimiser(self.groups["critic"], args, lr=args.critic_lr),
            "actor": make_optimiser(self.groups["actor"], args, lr=args.actor_lr),
        }
        self.params = [p for group in self.groups.values() for p in group]
        self.optimiser = self.optimisers["critic"]

    def mix(self, mixer: nn.Module | None, qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """Per-agent values `[B, T, agents]` -> Q_tot `[B, T, 1]` (or the per-agent values unchanged without a mixer)."""
        return qs if mixer is None else mixer(qs, states)

    def target_actions(self, batch: EpisodeBatch, h_init: torch.Tensor | None) -> torch.Tensor:
        """The target actors' actions at every step `[B, T, agents, D]`, with TD3's clipped smoothing noise
        when `target_noise` > 0, padded dimensions 0."""
        actions, _ = self.target_mac.unroll_with_hidden(batch, h_init)
        if self.args.target_noise > 0:
            clip = self.args.target_noise_clip
            actions = actions + (torch.randn_like(actions) * self.args.target_noise).clamp(-clip, clip)
        return actions.clamp(-1.0, 1.0) * batch["avail_actions"].to(actions.dtype)

    def td_loss(
        self,
        batch: EpisodeBatch,
        per_weights: torch.Tensor | None = None,
        h_init: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The critic's masked mean squared TD(lambda) error on Q_tot (per agent without a mixer) and diagnostics.

        `h_init`: the (online, target) actors' recurrent states after a context step 0 (an imagined batch,
        whose step 0 is unfilled; its rewards are standardised without updating the statistics).
        """
        rewards = self._rewards(batch, real=h_init is None)
        terminated = batch["terminated"][:, :-1].float()
        mask = batch["filled"][:, :-1].float()
        mask[:, 1:] = mask[:, 1:] * (1 - terminated[:, :-1])
        inputs = self.mac.build_sequence_inputs(batch)  # [B, T, agents, input]
        states = batch["state"]
        taken = batch["actions"][:, :-1]
        qs = self.critic(inputs[:, :-1], taken, self.mac.embeddings(inputs[:, :-1], taken))  # [B, T-1, agents]

        with torch.no_grad():
            next_actions = self.target_actions(batch, None if h_init is None else h_init[1])[:, 1:]
            next_inputs = inputs[:, 1:]
            target_qs = self.target_critic(next_inputs, next_actions, self.target_mac.embeddings(next_inputs, next_actions))
            next_values = self.mix(self.target_mixer, target_qs, states[:, 1:])
            # step 0's value is never a bootstrap target: a zero stands in for it
            target_values = torch.cat([torch.zeros_like(next_values[:, :1]), next_values], dim=1)
            targets = build_td_lambda_targets(rewards, terminated, mask, target_values, self.args.gamma, self.args.td_lambda)

        q_taken = self.mix(self.mixer, qs, states[:, :-1])
        td_error = (q_taken - targets) * mask
        sq = td_error.pow(2)
        if per_weights is not None:
            sq = sq * per_weights.view(-1, 1, 1).to(sq.device)
        mask_elems = mask.expand_as(td_error).sum().clamp(min=1)
        info = {
            "td_error_abs": td_error.abs().sum() / mask_elems,
            "q_taken_mean": (q_taken * mask).sum() / mask_elems,
            "target_mean": (targets * mask).sum() / mask_elems,
            "episode_td_abs": td_error.abs().sum(dim=(1, 2)) / mask.expand_as(td_error).sum(dim=(1, 2)).clamp(min=1),
        }
        return sq.sum() / mask_elems, info

    def actor_loss(self, batch: EpisodeBatch) -> torch.Tensor:
        """-Q_tot(s_t, Q_i(x_i, mu_i(x_i))) averaged over the valid steps t = 0..T-2 (and over agents
        without a mixer): its gradient moves each actor along dQ_tot/da_i. With `actor_preact_reg` > 0,
        plus that weight x the mean square of the actions before the tanh (as MADDPG's policy
        regularisation): it keeps pulling a saturated actor back, where the tanh's gradient is 0."""
        terminated = batch["terminated"][:, :-1].float()
        mask = batch["filled"][:, :-1].float()
        mask[:, 1:] = mask[:, 1:] * (1 - terminated[:, :-1])
        prefix = batch[:, :-1]  # the actors are causal: their actions on the prefix are those of the whole batch
        inputs = self.mac.build_sequence_inputs(prefix)
        actions = self.mac.actions(prefix)
        qs = self.critic(inputs, actions, self.mac.embeddings(inputs, actions))
        values = self.mix(self.mixer, qs, batch["state"][:, :-1])
        loss = -(values * mask).sum() / mask.expand_as(values).sum().clamp(min=1)
        if self.args.actor_preact_reg > 0:
            dims = batch["avail_actions"][:, :-1].to(values.dtype) * mask.unsqueeze(-1)  # [B, T-1, agents, D]
            pre = self.mac.agent.pre_actions(inputs)
            loss = loss + self.args.actor_preact_reg * (pre.pow(2) * dims).sum() / dims.sum().clamp(min=1)
        return loss

    def gradients(self, name: str, loss: torch.Tensor) -> torch.Tensor:
        """Gradients of `loss` for parameter group `name` only, clipped to its norm limit (`grad_norm_clip`
        for the critic and actors, `aux_grad_norm_clip` for the others); returns the norm before clipping."""
        params = self.groups[name]
        for p in params:
            p.grad = None
        loss.backward(inputs=params)
        clip = self.args.grad_norm_clip if name in ("critic", "actor") else self.args.aux_grad_norm_clip
        return torch.nn.utils.clip_grad_norm_(params, clip)

    def losses(
        self, batch: EpisodeBatch, t_env: int, per_weights: torch.Tensor | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """This update's loss for each optimiser group that steps (the critic; the actors every
        `actor_update_interval` updates) and its diagnostics."""
        critic_loss, stats = self.td_loss(batch, per_weights)
        stats["loss_td"] = critic_loss.detach()
        losses = {"critic": critic_loss}
        if self.train_steps % self.args.actor_update_interval == 0:
            losses["actor"] = self.actor_loss(batch)
            stats["loss_actor"] = losses["actor"].detach()
        return losses, stats

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int, per_weights: torch.Tensor | None = None) -> dict[str, Any]:
        """One update of every group from the same parameters: all gradients are taken and checked
        (`nan_policy`) before any optimiser steps."""
        rew_before = self.rew_ms.state_dict() if self.rew_ms is not None else None
        losses, stats = self.losses(batch, t_env, per_weights)
        for name, loss in losses.items():
            stats[f"grad_norm_{name}"] = self.gradients(name, loss)
        if not self.update_allowed(checked_values(stats), t_env, rew_before):
            return {"loss": losses["critic"].detach(), "skipped": True}
        for name in losses:
            self.optimisers[name].step()
        self.train_steps += 1
        self._maybe_update_targets(episode_num)
        if t_env - self.log_stats_t >= self.args.learner_log_interval:
            self._log(t_env, stats)
            self.log_stats_t = t_env
        return {"loss": losses["critic"].detach(), "td_errors_abs": stats["episode_td_abs"].detach()}

    def update_targets(self) -> None:
        super().update_targets()
        self.target_critic.load_state_dict(self.critic.state_dict())

    def soft_update_targets(self, tau: float) -> None:
        super().soft_update_targets(tau)
        soft_update(self.target_critic, self.critic, tau)

    def to(self, device: str | torch.device) -> ActorCriticLearner:
        super().to(device)
        self.critic.to(device)
        self.target_critic.to(device)
        return self

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["optimiser"] = {name: opt.state_dict() for name, opt in self.optimisers.items()}
        state["critic"] = self.critic.state_dict()
        state["target_critic"] = self.target_critic.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict({k: v for k, v in state.items() if k != "optimiser"})
        self.critic.load_state_dict(state["critic"])
        self.target_critic.load_state_dict(state["target_critic"])
        for name, opt in self.optimisers.items():
            opt.load_state_dict(state["optimiser"][name])

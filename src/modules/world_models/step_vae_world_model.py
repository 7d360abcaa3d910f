"""Feed-forward VAE world model over the team, with joint SALE in its transition (`world_model: step_vae`).

It models one transition at a time, in observation space, so it trains on independent transitions
(no recurrence to unroll) and rolls out the way MBPO does: each imagined step is decoded to a state and
observations, which the next step reads. With x_t = [s_t, o_t^1..n] (flattened) and u_t the joint action
[n * A] (one-hot, or the continuous action vectors):

    e_t     = enc(x_t)                                   encoder
    c_t     = g_joint(f_joint(x_t), u_t)                 joint SALE (TD7's f on the state, g on the action)
    h_t     = trans([e_t, u_t, c_t])                     deterministic path; as TD7's critic, it reads the
                                                         raw action beside the embedding, and with
                                                         `wm_sale_detach` c_t carries no gradient from it
                                                         (the SALE loss alone trains f and g, as in TD7)
    p(z_{t+1} | h_t), q(z_{t+1} | h_t, enc_post(x_{t+1}))  diagonal Gaussians (prior, posterior)
    x_{t+1} = x_t + delta_det(h_t) + delta_z([h_t, z_{t+1}])  the change from the previous step: a
                                                         deterministic path and the latent's part
    r_t, term_t from h_t; the next step's available actions from enc(x_{t+1})

Loss over valid transitions (every term a mean over its elements, so none drowns the others):
    change + avail (Bernoulli) + reward_coef * reward + term_coef * term
    + kl_beta * KL-balanced(alpha) with free nats on the batch mean (DreamerV2) + sale_coef * SALE.
With `wm_change_gate` (default) each element of x gets a change logit beside its change value: the change
term is the Bernoulli loss of "this element changes" plus the squared error of the value over the
elements that did change, and a prediction changes an element only where its logit is positive. In a
step of LBF or SMAX most elements do not move (food, far units, static features): an ungated regression
spreads small errors over all of them and ends above the copy-last baseline, which is exact there.
Without the gate the change term is the plain squared error of delta. Rewards are gated the same way
(a logit "a reward is paid" and the reward's value where one is), and the prediction is their product.
Eaten food, kills and rewards are rare (about 1% of LBF's random-action transitions): `wm_rare_weight`
w weighs their positive cases w times in the change, reward and termination logits' Bernoulli losses,
and the predictions take log(w) off those logits, the prior correction that keeps them calibrated.

It keeps the recurrent model's interface (`observe`, `imagine_step`, `decode`, `decode_transition`),
which the imagination runner, the accuracy check and the foresight roll-outs use: here the carried
"deterministic state" d_t is x_t itself ([..., state + n_agents * obs], `deter_dim`), and z_t the
latent of the transition into t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from components.action_spaces import action_vectors
from modules.sale import activation_module
from modules.world_models.base import WorldModelBase, WorldModelConfig
from modules.world_models.gaussian import diag_gaussian_kl, gaussian_params
from modules.world_models.joint_sale import JointActionEmbedding, JointSALE
from modules.world_models.masks import masked_mean, step_and_transition_masks
from modules.world_models.rollout_eval import rollout_error
from modules.world_models.vae_world_model import MIN_STD
from utils.component_config import config_of, key


def _mlp(in_dim: int, hidden_dim: int, out_dim: int, act: str, layers: int = 2) -> nn.Sequential:
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(dim, hidden_dim), activation_module(act)]
        dim = hidden_dim
    mods.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*mods)


def balanced_free_kl(
    post_mean: torch.Tensor, post_std: torch.Tensor, prior_mean: torch.Tensor, prior_std: torch.Tensor,
    mask: torch.Tensor, alpha: float, free_nats: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """KL balancing with free nats on the batch mean (DreamerV2's form): each side's KL is averaged over
    the masked steps first, then clamped below at `free_nats`. Inputs [..., D], mask [...]; returns
    (loss, the mean plain KL(post || prior), detached)."""
    to_prior = masked_mean(diag_gaussian_kl(post_mean.detach(), post_std.detach(), prior_mean, prior_std), mask)
    to_post = masked_mean(diag_gaussian_kl(post_mean, post_std, prior_mean.detach(), prior_std.detach()), mask)
    loss = alpha * to_prior.clamp(min=free_nats) + (1.0 - alpha) * to_post.clamp(min=free_nats)
    return loss, to_post.detach()


class StepVAEWorldModel(WorldModelBase):
    @dataclass(frozen=True)
    class Config(WorldModelConfig):
        wm_rare_weight: float = key(1.0, 'step_vae: positive (rare) cases of the change, reward and termination logits weigh this much in their losses; predictions take log(weight) off the logits (calibrated)', (lambda v: v >= 1, '>= 1'))
        wm_change_gate: bool = key(True, 'step_vae: each element\'s change is gated by a learnt "does it change" logit (elements predicted not to change stay exactly as they were)')
        wm_sale_detach: bool = key(False, "step_vae: True: the transition reads the joint SALE detached, so only the SALE loss trains f and g (TD7's decoupling)")

    def __init__(self, state_dim: int, obs_dim: int, n_agents: int, n_actions: int, args: Any):
        cfg = config_of(self.Config, args)
        super().__init__(state_dim, obs_dim, n_agents, n_actions, cfg)
        hidden = cfg.wm_hidden_dim
        act = cfg.wm_activation
        self.x_dim = state_dim + n_agents * obs_dim
        self.deter_dim = self.x_dim
        self.change_gate = cfg.wm_change_gate
        self.rare_weight = float(cfg.wm_rare_weight)

        action_dim = n_agents * n_actions
        self.transition_embed: JointSALE | JointActionEmbedding
        if self.use_sale:
            self.transition_embed = JointSALE(self.x_dim, action_dim, hidden, self.sale_dim, act)
        else:
            self.transition_embed = JointActionEmbedding(action_dim, self.sale_dim)
        self.encoder = nn.Sequential(_mlp(self.x_dim, hidden, hidden, act), activation_module(act))
        self.sale_detach = cfg.wm_sale_detach
        self.trans = nn.Sequential(_mlp(hidden + action_dim + self.sale_dim, hidden, hidden, act), activation_module(act))
        self.post_encoder = nn.Sequential(nn.Linear(self.x_dim, hidden), activation_module(act))
        self.prior_net = _mlp(hidden, hidden, 2 * self.latent_dim, act)
        self.posterior_net = _mlp(2 * hidden, hidden, 2 * self.latent_dim, act)
        change_dim = 2 * self.x_dim if self.change_gate else self.x_dim  # (value, change logit) per element
        self.delta_head = _mlp(hidden, hidden, change_dim, act)
        self.latent_delta_head = _mlp(hidden + self.latent_dim, hidden, change_dim, act)
        self.avail_head = _mlp(hidden, hidden, action_dim, act)
        self.reward_head = _mlp(hidden, hidden, 2 if self.change_gate else 1, act)  # (value, paid logit)
        self.term_head = _mlp(hidden, hidden, 1, act)
        self.init_rng(cfg.wm_rng, args)

    # ----- pieces -----

    def joint_x(self, state: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """state [..., S], obs [..., n_agents, O] -> x [..., S + n_agents * O]."""
        return torch.cat([state.float(), obs.float().flatten(-2)], dim=-1)

    def _transition(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [N, x_dim], u [N, n * A] -> (h [N, hidden], c [N, sale])."""
        c = self.transition_embed(x, u)
        read = c.detach() if self.sale_detach else c
        return self.trans(torch.cat([self.encoder(x), u, read], dim=-1)), c

    def _change(self, h: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The change of x, the deterministic path's plus the latent's: (value [N, x_dim], change logit
        [N, x_dim], or None without `wm_change_gate`)."""
        out = self.delta_head(h) + self.latent_delta_head(torch.cat([h, z], dim=-1))
        if not self.change_gate:
            return out, None
        value, logit = out.chunk(2, dim=-1)
        return value, logit - math.log(self.rare_weight)

    def _delta(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The predicted change of x [N, x_dim]: the value where the element is predicted to change, else 0."""
        return self._gated(*self._change(h, z))

    @staticmethod
    def _gated(value: torch.Tensor, logit: torch.Tensor | None) -> torch.Tensor:
        """The change value where its logit says the element changes, else 0 (the value itself without the gate)."""
        return value if logit is None else torch.where(logit > 0, value, torch.zeros_like(value))

    def imagine_step(
        self, d: torch.Tensor, z: torch.Tensor, actions_onehot: torch.Tensor, sample: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """d = x_t [N, x_dim], z (unused: the step reads x_t only), joint action [N, n_agents, A] ->
        (x_{t+1} [N, x_dim], z_{t+1} [N, latent]), z the prior mean unless `sample`."""
        h, _ = self._transition(d, actions_onehot.flatten(-2).float())
        mean, std = gaussian_params(self.prior_net(h), MIN_STD)
        z_next = mean + std * self._noise(std) if sample else mean
        return d + self._delta(h, z_next), z_next

    def decode(
        self, d: torch.Tensor, z: torch.Tensor, prev_obs: torch.Tensor | None = None, prev_state: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """d = x [..., x_dim] -> obs [..., n_agents, O], state [..., S], avail_logits [..., n_agents, A].
        `z`, `prev_obs` and `prev_state` are unused: x already holds the decoded step."""
        lead = d.shape[:-1]
        return {
            "obs": d[..., self.state_dim :].reshape(*lead, self.n_agents, self.obs_dim),
            "state": d[..., : self.state_dim],
            "avail_logits": self.avail_head(self.encoder(d)).view(*lead, self.n_agents, self.n_actions),
        }

    def decode_transition(self, d: torch.Tensor, z: torch.Tensor, actions_onehot: torch.Tensor) -> dict[str, torch.Tensor]:
        """d = x_t [..., x_dim], joint action [..., n_agents, A] -> reward [..., 1], term_logit [..., 1]."""
        lead = d.shape[:-1]
        h, _ = self._transition(d.reshape(-1, self.x_dim), actions_onehot.flatten(-2).float().reshape(-1, self.n_agents * self.n_actions))
        return {"reward": self._reward(h).view(*lead, 1), "term_logit": self._term_logit(h).view(*lead, 1)}

    def _reward(self, h: torch.Tensor) -> torch.Tensor:
        """The expected reward [N, 1]: with the gate P(paid) x the value where paid, else the regression."""
        out = self.reward_head(h)
        if not self.change_gate:
            return out
        value, logit = out.chunk(2, dim=-1)
        return torch.sigmoid(logit - math.log(self.rare_weight)) * value

    def _term_logit(self, h: torch.Tensor) -> torch.Tensor:
        """The termination logit [N, 1], calibrated (the rare-case weight taken off)."""
        return self.term_head(h) - math.log(self.rare_weight)

    def observe(self, batch: Any, sample: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """d = x [B, T, x_dim] (the real steps) and z [B, T, latent] (zeros: no step reads it)."""
        x = self.joint_x(batch["state"], batch["obs"])
        return x, x.new_zeros(*x.shape[:2], self.latent_dim)

    # ----- training -----

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss (0-dim) and its detached parts over the batch's valid transitions (module docstring)."""
        step_mask, trans_mask = step_and_transition_masks(batch)
        x = self.joint_x(batch["state"], batch["obs"])  # [B, T, x_dim]
        u = action_vectors(batch).float().flatten(2)[:, :-1]  # [B, T - 1, n * A]
        valid = trans_mask  # [B, T - 1]
        x_t, x_next, u_t = x[:, :-1][valid], x[:, 1:][valid], u[valid]  # [N, ...]
        if x_t.shape[0] == 0:
            raise ValueError("the world model's batch holds no valid transition (every episode has fewer than 2 filled steps)")

        h, c = self._transition(x_t, u_t)
        prior_mean, prior_std = gaussian_params(self.prior_net(h), MIN_STD)
        post_mean, post_std = gaussian_params(self.posterior_net(torch.cat([h, self.post_encoder(x_next)], -1)), MIN_STD)
        z = post_mean + post_std * self._noise(post_std)
        every = torch.ones(x_t.shape[0], dtype=torch.bool, device=x.device)
        kl_loss, kl_value = balanced_free_kl(post_mean, post_std, prior_mean, prior_std, every, self.kl_alpha, self.free_nats)

        delta = x_next - x_t
        value, logit = self._change(h, z)
        delta_err = (self._gated(value, logit) - delta).pow(2).detach()  # the prediction's error, for the stats
        reward = batch["reward"][:, :-1][valid].float()  # [N, 1]
        term = batch["terminated"][:, :-1][valid].float()
        term_loss = self._rare_bce(self.term_head(h), term > 0.5)
        if logit is None:
            change = (value - delta).pow(2).mean()
            reward_loss = (self.reward_head(h) - reward).pow(2).mean()
        else:
            changed = delta.abs() > 1e-6
            change = self._rare_bce(logit + math.log(self.rare_weight), changed) + masked_mean((value - delta).pow(2), changed)
            reward_value, reward_logit = self.reward_head(h).chunk(2, dim=-1)
            paid = reward.abs() > 1e-8
            reward_loss = self._rare_bce(reward_logit, paid) + masked_mean((reward_value - reward).pow(2), paid)

        avail_logits = self.avail_head(self.encoder(x[step_mask]))
        avail = batch["avail_actions"][step_mask].float().flatten(-2)
        avail_loss = F.binary_cross_entropy_with_logits(avail_logits, avail)
        sale_loss = self._sale_loss(c, x_next)

        obs_part = delta_err[:, self.state_dim :].mean()
        state_part = delta_err[:, : self.state_dim].mean()
        total = (
            change + self.avail_coef * avail_loss + self.reward_coef * reward_loss + self.term_coef * term_loss
            + self.kl_beta * kl_loss + self.sale_coef * sale_loss
        )
        stats = {
            "wm_recon_obs": obs_part, "wm_recon_state": state_part, "wm_change": change.detach(),
            "wm_avail": avail_loss.detach(), "wm_reward": reward_loss.detach(), "wm_term": term_loss.detach(),
            "wm_sale": sale_loss.detach(), "wm_kl": kl_value, "wm_loss": total.detach(),
        }
        return total, stats

    def _rare_bce(self, raw_logit: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
        """Bernoulli loss of an uncorrected logit, the positive (rare) cases weighing `wm_rare_weight` each."""
        weight = torch.where(positive, torch.full_like(raw_logit, self.rare_weight), torch.ones_like(raw_logit))
        return F.binary_cross_entropy_with_logits(raw_logit, positive.float(), weight=weight)

    def _sale_loss(self, c: torch.Tensor, x_next: torch.Tensor) -> torch.Tensor:
        """MSE(g(f(x_t), u_t), sg(f(x_{t+1}))) over the transitions; 0 without SALE. c [N, sale], x_next [N, x_dim]."""
        if not self.use_sale:
            return c.new_zeros(())
        target = self.transition_embed.state_embed(x_next).detach()
        return (c - target).pow(2).mean()

    def rollout_error(self, batch: Any, horizon: int) -> dict[str, float]:
        return rollout_error(self, batch, horizon)

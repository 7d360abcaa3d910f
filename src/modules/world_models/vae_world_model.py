"""Recurrent VAE world model over the team, with joint SALE inside the transition.

Per step t (B episodes, T steps, n agents, A actions, u_t the flattened joint action [n * A]: one-hot
vectors, or the continuous action vectors, A their size):
    c_{t-1} = g_joint(f_joint(z_{t-1}), u_{t-1})       joint SALE (or a linear action embedding)
    d_t     = GRUCell([z_{t-1}, c_{t-1}], d_{t-1})       deterministic path, d_0 = 0
    q(z_t | d_t, enc(s_t, o_t^1..n)), p(z_t | d_t)      diagonal Gaussians, std = softplus + 0.1
Decoders read feat_t = [d_t, z_t]: state, every agent's observation, available actions; reward and
termination of the transition taken at t read [feat_t, u_t]. With `wm_residual_decoding` the state and
observation heads predict the change from the previous step's state and observations (the real ones in
training, zeros before the first step; the previous decoded ones in imagination), so that a model that
has learnt nothing yet already matches the copy-last-observation baseline instead of trailing it.

Loss (masked by `filled`; transition terms by the valid-transition mask):
    recon_obs + recon_state (squared errors summed over features) + avail (Bernoulli, summed over
    agents x actions) + reward_coef * reward (squared error) + term_coef * term (Bernoulli)
    + kl_beta * KL-balanced(alpha, free nats) + sale_coef * MSE(g(f(z_t), u_t), sg(f(z_{t+1}))).
Its samples (the posterior's in training, the prior's in sampled roll-outs) come from torch's global
generator, or with `wm_rng: own` from one of its own: then training it draws nothing from the generator
acting draws from, so salemb's update can be prepared while the runner acts (`learn_ahead`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from components.action_spaces import action_vectors
from modules.sale import activation_module
from modules.world_models.base import WorldModelBase, WorldModelConfig
from modules.world_models.gaussian import balanced_kl, gaussian_params
from modules.world_models.joint_sale import JointActionEmbedding, JointSALE
from modules.world_models.masks import masked_mean, step_and_transition_masks
from modules.world_models.rollout_eval import rollout_error
from utils.component_config import AT_LEAST_1, config_of, key

MIN_STD = 0.1


def _mlp(in_dim: int, hidden_dim: int, out_dim: int, act: str) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), activation_module(act), nn.Linear(hidden_dim, out_dim))


def shift_in_zeros(x: torch.Tensor) -> torch.Tensor:
    """[B, T, ...] -> the previous step's values [B, T, ...], zeros at t = 0."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


class VAEWorldModel(WorldModelBase):
    @dataclass(frozen=True)
    class Config(WorldModelConfig):
        wm_deter_dim: int = key(128, 'deterministic (GRU) state size', AT_LEAST_1)
        wm_residual_decoding: bool = key(False, 'True: state/observation heads predict the change from the previous step (at worst copy-last)')

    def __init__(self, state_dim: int, obs_dim: int, n_agents: int, n_actions: int, args: Any):
        cfg = config_of(self.Config, args)
        super().__init__(state_dim, obs_dim, n_agents, n_actions, cfg)
        hidden = cfg.wm_hidden_dim
        self.deter_dim = cfg.wm_deter_dim
        self.residual = cfg.wm_residual_decoding
        act = cfg.wm_activation

        action_dim = n_agents * n_actions
        self.transition_embed: JointSALE | JointActionEmbedding
        if self.use_sale:
            self.transition_embed = JointSALE(self.latent_dim, action_dim, hidden, self.sale_dim, act)
        else:
            self.transition_embed = JointActionEmbedding(action_dim, self.sale_dim)
        self.encoder = nn.Sequential(_mlp(state_dim + n_agents * obs_dim, hidden, hidden, act), activation_module(act))
        self.gru = nn.GRUCell(self.latent_dim + self.sale_dim, self.deter_dim)
        self.posterior_net = _mlp(self.deter_dim + hidden, hidden, 2 * self.latent_dim, act)
        self.prior_net = _mlp(self.deter_dim, hidden, 2 * self.latent_dim, act)
        feat_dim = self.deter_dim + self.latent_dim
        self.obs_head = _mlp(feat_dim, hidden, n_agents * obs_dim, act)
        self.state_head = _mlp(feat_dim, hidden, state_dim, act)
        self.avail_head = _mlp(feat_dim, hidden, action_dim, act)
        self.reward_head = _mlp(feat_dim + action_dim, hidden, 1, act)
        self.term_head = _mlp(feat_dim + action_dim, hidden, 1, act)
        self.init_rng(cfg.wm_rng, args)

    # ----- one-step pieces -----

    def _advance(self, d: torch.Tensor, z: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """d [N, deter], z [N, latent], u [N, n * A] -> (d_next [N, deter], c [N, sale])."""
        c = self.transition_embed(z, u)
        return self.gru(torch.cat([z, c], dim=-1), d), c

    def prior(self, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z | d): d [..., deter] -> (mean, std), each [..., latent]."""
        return gaussian_params(self.prior_net(d), MIN_STD)

    def imagine_step(
        self, d: torch.Tensor, z: torch.Tensor, actions_onehot: torch.Tensor, sample: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One prior step: d [N, deter], z [N, latent], joint action [N, n_agents, n_actions] ->
        (d_next [N, deter], z_next [N, latent]); z_next is the prior mean unless `sample`."""
        d_next, _ = self._advance(d, z, actions_onehot.flatten(-2).float())
        mean, std = self.prior(d_next)
        z_next = mean + std * self._noise(std) if sample else mean
        return d_next, z_next

    def decode(
        self, d: torch.Tensor, z: torch.Tensor, prev_obs: torch.Tensor | None = None, prev_state: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """d [..., deter], z [..., latent] -> obs [..., n_agents, O], state [..., S],
        avail_logits [..., n_agents, n_actions]. With residual decoding, `prev_obs` [..., n_agents, O] and
        `prev_state` [..., S] (the previous step's) are required and the heads' outputs are added to them."""
        feat = torch.cat([d, z], dim=-1)
        lead = feat.shape[:-1]
        obs = self.obs_head(feat).view(*lead, self.n_agents, self.obs_dim)
        state = self.state_head(feat)
        if self.residual:
            if prev_obs is None or prev_state is None:
                raise ValueError("wm_residual_decoding=True: decode needs the previous step's prev_obs and prev_state")
            obs = obs + prev_obs
            state = state + prev_state
        return {
            "obs": obs,
            "state": state,
            "avail_logits": self.avail_head(feat).view(*lead, self.n_agents, self.n_actions),
        }

    def decode_transition(
        self, d: torch.Tensor, z: torch.Tensor, actions_onehot: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """d [..., deter], z [..., latent], joint action [..., n_agents, n_actions] ->
        reward [..., 1] and term_logit [..., 1] of the transition taken from that state."""
        x = torch.cat([d, z, actions_onehot.flatten(-2).float()], dim=-1)
        return {"reward": self.reward_head(x), "term_logit": self.term_head(x)}

    # ----- whole sequences -----

    def _posterior_sequence(self, batch: Any, sample: bool) -> dict[str, torch.Tensor]:
        """Filter a batch through the posterior.

        Returns d [B, T, deter], z [B, T, latent], post_mean / post_std [B, T, latent] and
        c [B, T - 1, sale] (c_t = embedding of (z_t, u_t), the input to step t + 1).
        """
        state, obs = batch["state"].float(), batch["obs"].float()
        u = action_vectors(batch).float().flatten(2)
        bs, seq_len = state.shape[:2]
        emb = self.encoder(torch.cat([state, obs.flatten(2)], dim=-1))
        d = state.new_zeros(bs, self.deter_dim)
        z = state.new_zeros(bs, self.latent_dim)
        ds, zs, means, stds, cs = [], [], [], [], []
        for t in range(seq_len):
            if t > 0:
                d, c = self._advance(d, z, u[:, t - 1])
                cs.append(c)
            mean, std = gaussian_params(self.posterior_net(torch.cat([d, emb[:, t]], dim=-1)), MIN_STD)
            z = mean + std * self._noise(std) if sample else mean
            ds.append(d)
            zs.append(z)
            means.append(mean)
            stds.append(std)
        c_seq = torch.stack(cs, dim=1) if cs else state.new_zeros(bs, 0, self.sale_dim)
        return {
            "d": torch.stack(ds, dim=1),
            "z": torch.stack(zs, dim=1),
            "post_mean": torch.stack(means, dim=1),
            "post_std": torch.stack(stds, dim=1),
            "c": c_seq,
        }

    def observe(self, batch: Any, sample: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior states of every step: d [B, T, deter], z [B, T, latent] (posterior mean unless `sample`)."""
        seq = self._posterior_sequence(batch, sample)
        return seq["d"], seq["z"]

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total world-model loss (0-dim) and its detached parts (see the module docstring)."""
        seq = self._posterior_sequence(batch, sample=True)
        step_mask, trans_mask = step_and_transition_masks(batch)
        d, z = seq["d"], seq["z"]

        prior_mean, prior_std = self.prior(d)
        kl_loss, kl_value = balanced_kl(
            seq["post_mean"], seq["post_std"], prior_mean, prior_std, self.kl_alpha, self.free_nats
        )
        obs, state = batch["obs"].float(), batch["state"].float()
        prev = (shift_in_zeros(obs), shift_in_zeros(state)) if self.residual else (None, None)
        dec = self.decode(d, z, *prev)
        obs_err = (dec["obs"] - obs).pow(2).sum(dim=(-2, -1))
        state_err = (dec["state"] - state).pow(2).sum(dim=-1)
        avail_err = F.binary_cross_entropy_with_logits(
            dec["avail_logits"], batch["avail_actions"].float(), reduction="none"
        ).sum(dim=(-2, -1))

        actions = action_vectors(batch)[:, :-1]
        trans = self.decode_transition(d[:, :-1], z[:, :-1], actions)
        reward_err = (trans["reward"] - batch["reward"][:, :-1].float()).pow(2)[..., 0]
        term_err = F.binary_cross_entropy_with_logits(
            trans["term_logit"], batch["terminated"][:, :-1].float(), reduction="none"
        )[..., 0]

        parts = {
            "wm_recon_obs": masked_mean(obs_err, step_mask),
            "wm_recon_state": masked_mean(state_err, step_mask),
            "wm_avail": masked_mean(avail_err, step_mask),
            "wm_reward": masked_mean(reward_err, trans_mask),
            "wm_term": masked_mean(term_err, trans_mask),
            "wm_sale": self._sale_loss(seq["c"], z, trans_mask),
        }
        kl_term = masked_mean(kl_loss, step_mask)
        total = (
            parts["wm_recon_obs"] + parts["wm_recon_state"] + self.avail_coef * parts["wm_avail"]
            + self.reward_coef * parts["wm_reward"] + self.term_coef * parts["wm_term"]
            + self.kl_beta * kl_term + self.sale_coef * parts["wm_sale"]
        )
        stats = {k: v.detach() for k, v in parts.items()}
        stats["wm_kl"] = masked_mean(kl_value, step_mask)
        stats["wm_loss"] = total.detach()
        return total, stats

    def _sale_loss(self, c: torch.Tensor, z: torch.Tensor, trans_mask: torch.Tensor) -> torch.Tensor:
        """MSE(g(f(z_t), u_t), sg(f(z_{t+1}))) over valid transitions; 0 without SALE.
        c [B, T - 1, sale], z [B, T, latent], trans_mask [B, T - 1]."""
        if not self.use_sale:
            return z.new_zeros(())
        target = self.transition_embed.state_embed(z[:, 1:]).detach()
        return masked_mean((c - target).pow(2).mean(dim=-1), trans_mask)

    def rollout_error(self, batch: Any, horizon: int) -> dict[str, float]:
        """Open-loop prediction error of the prior vs a copy-last baseline; see `rollout_eval.rollout_error`."""
        return rollout_error(self, batch, horizon)

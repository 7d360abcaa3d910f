"""salemb (MMSA): QMIX-style value decomposition with SALE agents, a VAE world model and imagined TD.

One `train` call = one update of every part on a batch of real episodes `[batch, T, ...]`:
  world model (reconstruction + reward + termination + avail + KL-balanced prior + latent SALE),
  the agents' SALE prediction loss (if the agent has SALE encoders),
  TD(lambda) on the real batch, plus `imagine_coef` x TD(lambda) on an imagined batch from the
  `imagination` runner once t_env >= `imagine_start` (with `imagine_gate`, only while the latest
  world-model check on fresh episodes beats the copy-last-observation baseline).
`unified_loss: True` sums everything and takes one optimiser step (the paper's single objective);
`False` (TD7-style, decoupled) gives the Q-networks, the SALE encoders and the world model their own
optimisers, learning rates and gradient clipping.
`mixer_foresight: True` (MBVD's use of imagination): the mixers read [s_t, foresight_t], where
foresight_t encodes a world-model roll-out from step t (see `learners.foresight_rollout`); the encoder
trains with the Q-networks through the TD loss, the roll-out itself carries no gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from components.action_spaces import action_vectors
from components.episode_buffer import EpisodeBatch
from learners.curiosity import curiosity_bonus
from learners.foresight_rollout import foresight_rollout
from learners.model_based_part import ModelBasedPart
from learners.nonfinite import checked_values
from learners.q_learner import QLearner, make_optimiser
from learners.salemb_config import SALEMBConfig
from modules.mixers import REGISTRY as mixer_REGISTRY
from modules.world_models.foresight import ForesightEncoder
from runners.imagination_runner import ImaginationRunner, hidden_before
from utils.side_thread import SideThread, SideThreads


def agent_sale_loss(mac: Any, batch: EpisodeBatch) -> torch.Tensor:
    """The SALE prediction loss of every agent on its own consecutive inputs (decentralised)."""
    B, T, A = batch.batch_size, batch.max_seq_length, mac.n_agents
    inputs = mac.build_sequence_inputs(batch).transpose(1, 2).reshape(B * A, T, -1)
    actions = action_vectors(batch).transpose(1, 2).reshape(B * A, T, -1)
    terminated = batch["terminated"][:, :, 0].float()
    valid = batch["filled"][:, :, 0].float() * (torch.cumsum(terminated, 1) - terminated == 0).float()
    mask = valid.unsqueeze(1).expand(B, A, T).reshape(B * A, T, 1)
    return mac.agent.sale_loss(inputs, actions, mask)


@torch.no_grad()
def sale_embedding_spread(mac: Any, batch: EpisodeBatch) -> torch.Tensor:
    """How much the state embedding z_s that the Q path reads (the fixed copy) varies across the batch's
    filled steps: the per-feature standard deviation, averaged over features. AvgL1Norm keeps each z_s at
    mean absolute value 1, so a value near 0 means the embedding has collapsed to one vector."""
    inputs = mac.build_sequence_inputs(batch)  # [B, T, agents, input]
    filled = batch["filled"][:, :, 0].bool()
    z_s = mac.agent.sale.fixed.encode_state(inputs[filled])  # [steps, agents, embed]
    return z_s.flatten(0, 1).std(dim=0).mean()


@dataclass
class SALEMBPrepared:
    """salemb's update up to the imagination (`SALEMBLearner.prepare_update`): the loss terms so far (the
    world model's already back-propagated and detached) other than the real TD loss `td`, the stats, the
    real TD's info, and the SALE term when `apply_update` back-propagates it apart (it is then detached
    in `terms`)."""

    batch: EpisodeBatch
    terms: list[torch.Tensor]
    td: torch.Tensor
    stats: dict[str, Any]
    info: dict[str, torch.Tensor]
    rew_before: dict[str, Any] | None
    sale_term: torch.Tensor | None = None


class SALEMBHooks:
    """What both salemb learners do in QLearner's hooks: hand the loop's calls to their model-based part
    (`model_part`, None without a world model) and refresh the SALE agents' fixed encoder copies."""

    has_agent_sale: bool
    model_part: ModelBasedPart | None
    last_curiosity: torch.Tensor | None = None  # the latest real batch's mean |curiosity bonus| per step
    args: Any
    mac: Any

    @property
    def world_model(self) -> nn.Module | None:
        return None if self.model_part is None else self.model_part.model

    def imagination_due(self, t_env: int) -> bool:
        """Whether this update adds imagined TD (`ModelBasedPart.imagination_due`)."""
        return self.model_part is not None and self.model_part.imagination_due(t_env)

    def observe_new_episodes(self, batch: EpisodeBatch, t_env: int) -> None:
        """The world model's accuracy check on fresh episodes (`ModelBasedPart.observe_new_episodes`)."""
        if self.model_part is not None:
            self.model_part.observe_new_episodes(batch, t_env)

    def _rewards(self, batch: EpisodeBatch, real: bool) -> torch.Tensor:
        """The learner's rewards `[batch, T-1, 1]`; with `curiosity_coef` > 0 a real batch's get the world
        model's surprise bonus (`learners.curiosity`), added after standardising."""
        rewards = super()._rewards(batch, real)
        if not real or self.model_part is None or self.args.curiosity_coef <= 0:
            return rewards
        bonus = curiosity_bonus(self.model_part.model, batch, self.args.curiosity_coef, self.args.curiosity_clip)
        self.last_curiosity = bonus.abs().sum() / batch["filled"][:, :-1].sum().clamp(min=1)
        return rewards + bonus

    def on_target_interval(self) -> None:
        """TD7's fixed encoders: the Q path moves to the encoders trained since the last interval (with
        `sale_refresh_tau` = 0; otherwise `after_update` moves it a little every update)."""
        if self.has_agent_sale and self.args.sale_refresh_tau == 0:
            self.mac.agent.refresh_sale()

    def after_update(self) -> None:
        """With `sale_refresh_tau` > 0 the fixed encoders follow the trained ones by Polyak averaging after
        every update, so the Q path's features drift instead of jumping at each target interval."""
        if self.has_agent_sale and self.args.sale_refresh_tau > 0:
            self.mac.agent.refresh_sale(self.args.sale_refresh_tau)


class SALEMBLearner(SALEMBHooks, QLearner):
    components = ("mixer", "world_model")
    Config = SALEMBConfig
    # the loop serves QLearner's td_loss calls (target unroll, targets, loss); this learner's backward
    # passes run in `apply_update`, after the collection
    lane_calls_ahead = 3

    def __init__(self, mac: Any, scheme: dict[str, Any], logger: Any, args: Any):
        if args.mixer_foresight and not args.use_world_model:
            raise ValueError("mixer_foresight=True needs use_world_model=True: the foresight is a world-model roll-out")
        if args.mixer_foresight and args.mixer != "qmix":
            raise ValueError(f"mixer_foresight=True needs mixer='qmix' (a state-conditioned mixer), got {args.mixer!r}")
        super().__init__(mac, scheme, logger, args)
        self.has_agent_sale = hasattr(mac.agent, "sale_loss")
        runner_scheme = {k: v for k, v in scheme.items() if k not in ("filled", "actions_onehot")}
        self.model_part = (
            ModelBasedPart(args, mac, runner_scheme, logger, self.nonfinite, lambda: self.train_steps + 1)
            if args.use_world_model else None
        )
        self.foresight: ForesightEncoder | None = None
        if args.mixer_foresight:
            self.foresight = ForesightEncoder(self.world_model.deter_dim, self.world_model.latent_dim, args.foresight_dim)
        self._build_optimisers()
        if self.model_part is not None:
            self.model_part.bind_optimiser(self.optimisers.get("wm", self.optimisers.get("all")), self.groups.get("wm", self.groups.get("all")))
        self.wm_side = SideThread(False)  # the world model's and SALE's backward passes; lent by `use_side_threads`

    def use_side_threads(self, threads: SideThreads) -> None:
        """QLearner's lane, and "learner-wm" for the world model's loss and the SALE loss's backward pass,
        which run beside the agents' losses (`parallel_learner`)."""
        super().use_side_threads(threads)
        self.wm_side = threads.lane("learner-wm", self.args.parallel_learner)

    @property
    def imagination(self) -> ImaginationRunner | None:
        return None if self.model_part is None else self.model_part.imagination

    def _build_mixer(self) -> nn.Module:
        """With `mixer_foresight`, QMIX conditioned on [state, foresight]. QLearner.__init__ calls this
        before the rest of this learner exists, so it reads only `args`."""
        args = self.args
        if not args.mixer_foresight:
            return super()._build_mixer()
        return mixer_REGISTRY[args.mixer](args, state_dim=args.state_shape + args.foresight_dim)

    def mixer_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        """`[B, T, state]`, or `[B, T, state + foresight_dim]` = [state, foresight] with `mixer_foresight`.

        Roll-outs start only at the steps a TD term reads (filled steps and the step after each, the
        bootstrap); the foresight elsewhere is 0. On imagined batches these are the few steps of the
        imagined roll-out, not the real prefix.
        """
        state = super().mixer_inputs(batch)
        if self.foresight is None:
            return state
        filled = batch["filled"][:, :, 0].bool()
        starts = torch.cat([filled[:, :1], filled[:, 1:] | filled[:, :-1]], dim=1)
        rollout = foresight_rollout(self.world_model, self.mac, batch, self.args.imagine_horizon, starts)
        encoding = state.new_zeros(*state.shape[:2], self.foresight.foresight_dim)
        encoding[starts] = self.foresight(rollout)
        return torch.cat([state, encoding], dim=-1)

    def _build_optimisers(self) -> None:
        args = self.args
        mixer_params = list(self.mixer.parameters()) if self.mixer is not None else []
        if self.foresight is not None:
            mixer_params += list(self.foresight.parameters())
        wm_params = list(self.world_model.parameters()) if self.world_model is not None else []
        if args.unified_loss:
            self.groups = {"all": list(self.mac.parameters()) + mixer_params + wm_params}
            self.optimisers = {"all": make_optimiser(self.groups["all"], args)}
        else:
            agent = self.mac.agent
            q_params = list(agent.q_parameters()) if self.has_agent_sale else list(self.mac.parameters())
            self.groups = {"q": q_params + mixer_params}
            self.optimisers = {"q": make_optimiser(self.groups["q"], args)}
            if self.has_agent_sale:
                self.groups["sale"] = list(agent.sale_parameters())
                self.optimisers["sale"] = make_optimiser(self.groups["sale"], args, lr=args.sale_lr)
            if wm_params:
                self.groups["wm"] = wm_params
                self.optimisers["wm"] = make_optimiser(wm_params, args, lr=args.wm_lr)
        self.params = [p for group in self.groups.values() for p in group]
        first = next(iter(self.optimisers))
        self.optimiser = self.optimisers[first]

    @property
    def update_ahead(self) -> bool:
        """`prepare_update` may run beside acting when it draws nothing from torch's global generator:
        with no world model, or one with its own (`wm_rng: own`)."""
        return self.world_model is None or self.world_model.rng is not None

    def prepare_update(self, batch: EpisodeBatch, per_weights: torch.Tensor | None = None) -> SALEMBPrepared:
        """The first half of `train`, which needs no t_env and changes no parameter: the world model's loss
        (back-propagated at once, on a side thread with `parallel_learner`), and the SALE and real TD
        losses, forward only."""
        args = self.args
        rew_before = self.rew_ms.state_dict() if self.rew_ms is not None else None
        for opt in self.optimisers.values():
            opt.zero_grad(set_to_none=True)
        wm_job = None
        if self.world_model is not None and args.wm_train_ratio == 0 and self.train_steps % args.wm_update_interval == 0:
            wm_job = self.wm_side.submit(self._world_model_backward, batch[: min(args.wm_batch_size, batch.batch_size)])
        stats: dict[str, Any] = {}
        terms: list[torch.Tensor] = []  # the loss's terms in the paper's order: world model, SALE (then TD, imagined TD)
        sale_term = None
        if self.has_agent_sale:
            sale_loss = agent_sale_loss(self.mac, batch)
            term = args.sale_coef * sale_loss
            if self.mac.agent.detach:
                # TD7's detached Q path: the SALE loss's graph shares nothing with the TD losses' (only the
                # trained encoders take its gradient, and only from it), so it is back-propagated apart
                sale_term, term = term, term.detach()
            terms.append(term)
            stats["loss_sale"] = sale_loss
        td_loss, info = self.td_loss(batch, per_weights)
        stats.update(loss_td=td_loss, **info)
        if self.last_curiosity is not None:
            stats["curiosity_bonus_abs"] = self.last_curiosity
        if wm_job is not None:
            wm_part, wm_stats = wm_job.result()
            terms.insert(0, wm_part)
            stats = {**wm_stats, **stats}
        return SALEMBPrepared(batch, terms, td_loss, stats, info, rew_before, sale_term)

    def apply_update(self, prepared: SALEMBPrepared, t_env: int, episode_num: int) -> dict[str, Any]:
        """The second half of `train`: the imagined TD (its draws, from the global generator, come after
        the collection's, as without `learn_ahead`), the backward passes of the SALE, TD and imagined TD
        losses, clipping per optimiser group, the checks, the optimiser steps, targets and logging."""
        args = self.args
        batch, terms, stats, info = prepared.batch, prepared.terms, prepared.stats, prepared.info
        # the SALE term kept apart is back-propagated on the side thread meanwhile: the same gradients
        sale_backward = self.wm_side.submit(prepared.sale_term.backward) if prepared.sale_term is not None else None
        if self.imagination_due(t_env):
            td_real, td_img, img_stats = self.imagined_td(batch, info, t_env, prepared.td)
            terms += [td_real, td_img]
            stats.update(img_stats)
        else:
            terms.append(prepared.td)
        loss = batch["reward"].new_zeros(())
        for term in terms:
            loss = loss + term
        loss.backward()
        if sale_backward is not None:
            sale_backward.result()
        for name, group in self.groups.items():
            clip = args.grad_norm_clip if name in ("all", "q") else args.aux_grad_norm_clip
            stats[f"grad_norm_{name}"] = torch.nn.utils.clip_grad_norm_(group, clip)
        if not self.update_allowed(checked_values(stats), t_env, prepared.rew_before):
            return {"loss": loss.detach(), "skipped": True}
        for opt in self.optimisers.values():
            opt.step()
        self.train_steps += 1
        self._maybe_update_targets(episode_num)
        if t_env - self.log_stats_t >= args.learner_log_interval:
            stats["grad_norm"] = stats.get("grad_norm_all", stats.get("grad_norm_q"))
            if self.has_agent_sale:
                stats["sale_zs_spread"] = sale_embedding_spread(self.mac, batch)
            self._log(t_env, stats)
            self.log_stats_t = t_env
        return {"loss": loss.detach(), "td_errors_abs": info["episode_td_abs"].detach()}

    def imagined_td(
        self, batch: EpisodeBatch, info: dict[str, torch.Tensor], t_env: int, td_real: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """The real and imagined TD terms of the loss, and the imagination's stats.

        Roll-outs start at the first `imagine_batch_size` episodes' random valid steps
        (`imagine_start_sampling: episode`), or at `imagine_batch_size` valid steps drawn across the
        whole batch (`step`). `imagine_weighting: batch` adds `imagine_coef` x the imagined batch's mean
        TD to the real mean; `transition` pools the two, each imagined transition weighing `imagine_coef`
        real ones: (sum_real + coef * sum_img) / (n_real + coef * n_img), so the imagination's share of
        the gradient follows its share of the data."""
        args = self.args
        if args.imagine_start_sampling == "episode":
            n = min(args.imagine_batch_size, batch.batch_size)
            rows = n * self.mac.n_agents
            real, hidden, target_hidden, n_starts = batch[:n], info["hidden"][:rows], info["target_hidden"][:rows], None
        else:
            real, hidden, target_hidden, n_starts = batch, info["hidden"], info["target_hidden"], args.imagine_batch_size
        imagined, starts = self.imagination.run(real, t_env, hidden, n_starts)
        h_init = (hidden_before(hidden, starts, self.mac), hidden_before(target_hidden, starts, self.mac))
        td_img, img_info = self.td_loss(imagined, h_init=h_init)
        filled = imagined["filled"][:, :-1].float()
        share = img_info["n_td"] / (img_info["n_td"] + info["n_td"])
        stats = {
            "loss_td_imagined": td_img,
            "imagined_return_mean": (imagined["reward"][:, :-1] * filled).sum() / imagined.batch_size,
            "imagined_length_mean": filled.sum() / imagined.batch_size,
            "imagined_share": share,
        }
        if args.imagine_weighting == "batch":
            return td_real, args.imagine_coef * td_img, stats
        weighted = args.imagine_coef * img_info["n_td"]
        total = info["n_td"] + weighted
        return td_real * (info["n_td"] / total), td_img * (weighted / total), stats

    def train_world_model(self, buffer: Any, t_env: int) -> Callable[[], dict[str, torch.Tensor]] | None:
        """The world model's own schedule (`ModelBasedPart.schedule`): a call that trains it, run by the
        loop beside testing and collecting, or None when no step is due."""
        return None if self.model_part is None else self.model_part.schedule(buffer, t_env)

    def _world_model_backward(self, batch: EpisodeBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The world model's weighted loss, back-propagated at once (only its own parameters take
        gradient from it), and its parts. With `parallel_learner` this runs on a side thread while the
        agents' losses are computed; its random draws (the VAE's samples) end before the imagination's
        begin, so they are the same draws in the same order."""
        wm_loss, wm_stats = self.world_model.loss(batch)
        weighted = self.args.wm_coef * wm_loss
        weighted.backward()
        return weighted.detach(), wm_stats

    def to(self, device: str | torch.device) -> SALEMBLearner:
        super().to(device)
        if self.model_part is not None:
            self.model_part.to(device)
        if self.foresight is not None:
            self.foresight.to(device)
        return self

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["optimiser"] = {name: opt.state_dict() for name, opt in self.optimisers.items()}
        if self.model_part is not None:
            state.update(self.model_part.state_dict())
        if self.foresight is not None:
            state["foresight"] = self.foresight.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        optimiser_states = state.get("optimiser", {})
        super().load_state_dict({k: v for k, v in state.items() if k != "optimiser"})
        for name, opt in self.optimisers.items():
            if name in optimiser_states:
                opt.load_state_dict(optimiser_states[name])
        if self.model_part is not None:
            self.model_part.load_state_dict(state)
        if self.foresight is not None:
            self.foresight.load_state_dict(state["foresight"])

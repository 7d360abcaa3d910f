"""Value-decomposition Q-learning: IQL (no mixer), VDN, QMIX and QPLEX, with double Q and TD(lambda) targets."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from components.episode_buffer import EpisodeBatch
from learners.nonfinite import NonFiniteGuard
from modules.mixers import REGISTRY as mixer_REGISTRY
from modules.mixers.base import Mixer
from utils.rl_utils import build_td_lambda_targets, soft_update
from utils.running_mean_std import RunningMeanStd
from utils.side_thread import LEARNER_LANE, SideThread, SideThreads

OPTIMIZER_IMPLS = ("for_loop", "foreach", "fused")


def make_optimiser(params: list[nn.Parameter], args: Any, lr: float | None = None) -> torch.optim.Optimizer:
    """Adam or RMSprop over `params`. `optimizer_impl` picks torch's implementation: 'for_loop' (one
    kernel per tensor), 'foreach' (grouped kernels, the same numbers as for_loop, about 1.7x faster on
    the CPU) or 'fused' (one kernel, about 4.5x faster; its float rounding differs from the others)."""
    lr = args.lr if lr is None else lr
    impl = args.optimizer_impl
    if impl not in OPTIMIZER_IMPLS:
        raise ValueError(f"optimizer_impl must be one of {list(OPTIMIZER_IMPLS)}, got {impl!r}")
    kind = {"fused": True} if impl == "fused" else {"foreach": impl == "foreach"}
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=args.weight_decay, **kind)
    if args.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=args.optim_alpha, eps=args.optim_eps, **kind)
    raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got '{args.optimizer}'")


@dataclass
class PreparedUpdate:
    """An update whose gradients are computed but not yet applied (`QLearner.prepare_update`); its tensors
    are detached from the graph."""

    loss: torch.Tensor
    grad_norm: torch.Tensor
    info: dict[str, torch.Tensor]
    rew_before: dict[str, Any] | None


def _let_go() -> None:
    """The last of an update's lane calls (`QLearner.lane_calls_ahead`): nothing to compute. Served, it lets
    the loop's thread go and collect while the thread that prepares the update ahead runs (the rest of)
    its backward pass, which needs the GIL little or not at all (`QLearner.let_go_in_backward`)."""


def detached(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with every tensor detached from the graph (which is freed once nothing else holds it)."""
    return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in values.items()}


class QLearner:
    """One gradient step per `train` call on a batch of whole episodes `[batch, time, ...]`."""

    # `prepare_update` draws nothing from torch's global random generator, which acting draws from, so
    # the run loop may prepare an update on a side thread while the runner acts (`learn_ahead`).
    update_ahead = True
    # an update's calls to its lane, the target unroll, the targets, the loss and the go-ahead to collect
    # (`_let_go`), run by the loop's thread when the update is prepared ahead (`SideThread.serve_first`)
    lane_calls_ahead = 4
    # The selecting keys whose components this learner builds (beside runner, mac, agent, action_selector
    # and env, which every run builds): their declared keys join the run's config (utils/registries.py).
    components: tuple[str, ...] = ("mixer",)

    def __init__(self, mac: Any, scheme: dict[str, Any], logger: Any, args: Any):
        self.args = args
        self.mac = mac
        self.logger = logger
        self.mixer: Mixer | None = None
        if args.mixer is not None:
            if args.mixer not in mixer_REGISTRY:
                raise ValueError(f"unknown mixer '{args.mixer}'; valid: {sorted(mixer_REGISTRY)} or null")
            self.mixer = self._build_mixer()
        self.target_mac = copy.deepcopy(mac)
        self.target_mixer = copy.deepcopy(self.mixer)
        self.params = list(mac.parameters()) + (list(self.mixer.parameters()) if self.mixer is not None else [])
        self.optimiser = make_optimiser(self.params, args)
        self.last_target_update_episode = 0
        self.log_stats_t = -args.learner_log_interval - 1
        self.train_steps = 0
        self.rew_ms = RunningMeanStd(shape=(1,)) if args.standardise_rewards else None
        self.nonfinite = NonFiniteGuard(args.nan_policy, logger)
        self.side = SideThread(False)  # the target unroll's lane; `use_side_threads` lends a thread
        # Where an update prepared ahead lets the loop's thread go and collect (`_let_go`): just before its
        # backward pass, or, beside a collection that holds the GIL (`UpdateSchedule`), once the gradient
        # reaches the agents' GRU outputs: the mixer's backward runs Python (small_bmm's), and each wait for
        # the GIL beside such a collection is long, while the GRU's backward needs none.
        self.let_go_in_backward = False

    def use_side_threads(self, threads: SideThreads) -> None:
        """Take the run's side threads (`parallel_learner`): the target network unrolls on the lane
        "learner-side" while the online network unrolls here."""
        self.side = threads.lane(LEARNER_LANE, self.args.parallel_learner)

    def _build_mixer(self) -> Mixer:
        return mixer_REGISTRY[self.args.mixer](self.args)

    def mixer_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        """What the mixer conditions on, `[batch, time, features]`: the global state (computed once per
        `td_loss`; the target mixer reads it detached)."""
        return batch["state"]

    def _rewards(self, batch: EpisodeBatch, real: bool) -> torch.Tensor:
        """Rewards `[batch, T-1, 1]`, standardised by running statistics of real rewards only."""
        rewards = batch["reward"][:, :-1]
        if self.rew_ms is not None:
            valid = rewards[batch["filled"][:, :-1].bool()].reshape(-1, 1)
            if real and valid.numel() > 0:
                self.rew_ms.update(valid)
            rewards = (rewards - self.rew_ms.mean) / torch.sqrt(self.rew_ms.var + 1e-8)
        return rewards

    def td_loss(
        self,
        batch: EpisodeBatch,
        per_weights: torch.Tensor | None = None,
        h_init: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Masked mean squared TD(lambda) error and diagnostics for one batch of episodes.

        `h_init`: (online, target) hidden states `[batch * agents, hidden]` after a context step 0 (see
        `BasicMAC.unroll_with_hidden`); step 0 must then be unfilled. Such a batch is taken to be imagined:
        its rewards are standardised (with `standardise_rewards`) but do not update the statistics. The GRU outputs of both unrolls are
        returned in the info as `hidden` and `target_hidden` `[batch * agents, time, hidden]`, and the
        number of TD terms the mean is over as `n_td`.
        """
        rewards = self._rewards(batch, real=h_init is None)
        actions = batch["actions"][:, :-1]
        terminated = batch["terminated"][:, :-1].float()
        mask = batch["filled"][:, :-1].float()
        mask[:, 1:] = mask[:, 1:] * (1 - terminated[:, :-1])
        avail_actions = batch["avail_actions"]

        target_unroll = self.side.submit(self._target_unroll, batch, None if h_init is None else h_init[1])
        mac_out, hidden = self.mac.unroll_with_hidden(batch, None if h_init is None else h_init[0])
        mixer_in = self.mixer_inputs(batch) if self.mixer is not None else None
        chosen_qs = torch.gather(mac_out[:, :-1], dim=3, index=actions).squeeze(3)
        # the targets on the lane too, after the target unroll, while the online network's values are mixed here
        target_values = self.side.submit(
            self._target_values, target_unroll, mac_out.detach(), None if mixer_in is None else mixer_in.detach(),
            avail_actions, rewards, terminated, mask,
        )

        if self.mixer is not None:
            chosen_qs = self.mix(self.mixer, chosen_qs, mixer_in[:, :-1], actions, mac_out[:, :-1], avail_actions[:, :-1])
        # the loss on the lane as well: prepared ahead, the loop's thread computes it before it collects, so
        # that this thread, back-propagating beside the collection, needs the GIL as little as it can
        loss, info, target_hidden = self.side.submit(self._td_terms, chosen_qs, target_values, mask, per_weights).result()
        return loss, {**info, "hidden": hidden, "target_hidden": target_hidden}

    def _td_terms(
        self, chosen_qs: torch.Tensor, target_values: Any, mask: torch.Tensor, per_weights: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """The masked mean squared TD error of the values `chosen_qs` `[B, T-1, 1 or agents]` against the
        targets of `target_values` (a Future of `_target_values`), its diagnostics, and the target network's
        GRU outputs. Grad mode is per thread: enabled here, the loss is differentiable on any thread."""
        targets, target_hidden = target_values.result()
        with torch.enable_grad():
            td_error = (chosen_qs - targets) * mask
            sq = td_error.pow(2)
            if per_weights is not None:
                sq = sq * per_weights.view(-1, 1, 1).to(sq.device)
            mask_elems = mask.expand_as(td_error).sum().clamp(min=1)
            loss = sq.sum() / mask_elems
            info = {
                "td_error_abs": td_error.abs().sum() / mask_elems,
                "q_taken_mean": (chosen_qs * mask).sum() / mask_elems,
                "target_mean": (targets * mask).sum() / mask_elems,
                "episode_td_abs": td_error.abs().sum(dim=(1, 2)) / mask.expand_as(td_error).sum(dim=(1, 2)).clamp(min=1),
                "n_td": mask_elems.detach(),
            }
        return loss, info, target_hidden

    def greedy_target_qs(
        self, mac_out: torch.Tensor, target_mac_out: torch.Tensor, avail_actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The target network's value of the greedy action `[B, T, agents]` and that action `[B, T, agents, 1]`:
        with `double_q` the online network's argmax over available actions, else the target's own."""
        if self.args.double_q:
            online = mac_out.detach().masked_fill(avail_actions == 0, -1e10)
            best = online.argmax(dim=3, keepdim=True)
            return torch.gather(target_mac_out, 3, best).squeeze(3), best
        best_qs, best = target_mac_out.masked_fill(avail_actions == 0, -1e10).max(dim=3, keepdim=True)
        return best_qs.squeeze(3), best

    def mix(
        self,
        mixer: Mixer,
        agent_qs: torch.Tensor,
        states: torch.Tensor,
        actions: torch.Tensor,
        all_qs: torch.Tensor,
        avail_actions: torch.Tensor,
    ) -> torch.Tensor:
        """Q_tot `[B, T, 1]` from the agents' values `agent_qs` `[B, T, agents]` of `actions` `[B, T, agents, 1]`,
        the mixer's conditioning `states` `[B, T, features]`, and every action's value `all_qs` `[B, T, agents,
        actions]`. A mixer gets the one-hot actions and each agent's max over `avail_actions` only if it
        names them in `extra_inputs` (modules/mixers/base.py)."""
        extra: dict[str, torch.Tensor] = {}
        if "actions" in mixer.extra_inputs:
            extra["actions"] = F.one_hot(actions.squeeze(3), all_qs.shape[3]).to(agent_qs.dtype)
        if "max_qs" in mixer.extra_inputs:
            extra["max_qs"] = all_qs.masked_fill(avail_actions == 0, -1e10).max(dim=3)[0]
        return mixer(agent_qs, states, **extra)

    def targets(
        self, rewards: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor, target_qs: torch.Tensor
    ) -> torch.Tensor:
        """TD targets `[B, T-1, 1 or agents]` from the target values `target_qs` `[B, T, 1 or agents]`:
        TD(lambda) with `gamma` and `td_lambda` (lambda 0: one-step targets)."""
        return build_td_lambda_targets(rewards, terminated, mask, target_qs, self.args.gamma, self.args.td_lambda)

    def _target_values(
        self, target_unroll: Any, mac_out: torch.Tensor, mixer_in: torch.Tensor | None, avail_actions: torch.Tensor,
        rewards: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The TD targets `[B, T-1, 1 or agents]` from the target unroll (a Future) and the online Q-values
        `mac_out` (detached, for double Q), and the target network's GRU outputs."""
        with torch.no_grad():
            target_mac_out, target_hidden = target_unroll.result()
            target_max_qs, best = self.greedy_target_qs(mac_out, target_mac_out, avail_actions)
            if self.mixer is not None:
                target_max_qs = self.mix(self.target_mixer, target_max_qs, mixer_in, best, target_mac_out, avail_actions)
            return self.targets(rewards, terminated, mask, target_max_qs), target_hidden

    def _target_unroll(self, batch: EpisodeBatch, h_init: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The target network's Q-values and GRU outputs (`unroll_with_hidden`), without gradients. With
        `parallel_learner` it runs on the side thread while the online network unrolls (grad mode is per thread)."""
        with torch.no_grad():
            return self.target_mac.unroll_with_hidden(batch, h_init)

    def train(self, batch: EpisodeBatch, t_env: int, episode_num: int, per_weights: torch.Tensor | None = None) -> dict[str, Any]:
        """One update; returns the loss and per-episode |TD| (for PER), or `skipped` (see `update_allowed`)."""
        return self.apply_update(self.prepare_update(batch, per_weights), t_env, episode_num)

    def prepare_update(self, batch: EpisodeBatch, per_weights: torch.Tensor | None = None) -> PreparedUpdate:
        """The first half of `train`: the loss, its clipped gradients in the parameters' `.grad`, and what
        `apply_update` needs. It changes no parameter, so the runner may act with them meanwhile (`learn_ahead`)."""
        rew_before = self.rew_ms.state_dict() if self.rew_ms is not None else None
        loss, info = self.td_loss(batch, per_weights)
        self.optimiser.zero_grad(set_to_none=True)
        hidden = info["hidden"]
        if self.let_go_in_backward and hidden.requires_grad:
            hidden.register_hook(self._let_go_hook)
        else:
            self.side.submit(_let_go)
        # The graph is kept through the pass and freed after it in one go: freeing a saved tensor that
        # Python has seen takes the GIL. The same gradients.
        torch.autograd.backward([loss], [torch.ones_like(loss)], retain_graph=True)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.args.grad_norm_clip)
        return PreparedUpdate(loss.detach(), grad_norm, detached(info), rew_before)

    def _let_go_hook(self, grad: torch.Tensor) -> None:
        """A gradient hook that submits `_let_go` to the lane and leaves the gradient as it is."""
        self.side.submit(_let_go)

    def apply_update(self, prepared: PreparedUpdate, t_env: int, episode_num: int) -> dict[str, Any]:
        """The second half of `train`: the checks, the optimiser step, target updates and logging."""
        loss, grad_norm, info = prepared.loss, prepared.grad_norm, prepared.info
        checked = {"loss_td": loss, "q_taken_mean": info["q_taken_mean"], "target_mean": info["target_mean"], "grad_norm": grad_norm}
        if not self.update_allowed(checked, t_env, prepared.rew_before):
            return {"loss": loss, "skipped": True}
        self.optimiser.step()
        self.train_steps += 1
        self._maybe_update_targets(episode_num)
        if t_env - self.log_stats_t >= self.args.learner_log_interval:
            self._log(t_env, {"loss_td": loss, "grad_norm": grad_norm, **info})
            self.log_stats_t = t_env
        return {"loss": loss, "td_errors_abs": info["episode_td_abs"]}

    def update_allowed(self, values: dict[str, torch.Tensor], t_env: int, rew_before: dict[str, Any] | None) -> bool:
        """Check the update's losses, Q-values and gradient norms before any optimiser steps (`nan_policy`).
        When one is not finite, this batch's gradients are dropped and the reward statistics put back,
        so the learner is exactly as before the batch, whether the update is skipped or the run stops."""
        allowed = False
        try:
            allowed = self.nonfinite.check(values, t_env, self.train_steps + 1)
        finally:
            if not allowed:
                for p in self.params:
                    p.grad = None
                if rew_before is not None:
                    self.rew_ms.load_state_dict(rew_before)
        return allowed

    def _log(self, t_env: int, stats: dict[str, torch.Tensor]) -> None:
        for key, value in stats.items():
            if torch.is_tensor(value) and value.numel() != 1:
                continue
            self.logger.log_stat(key, float(value.detach() if torch.is_tensor(value) else value), t_env)

    def _maybe_update_targets(self, episode_num: int) -> None:
        """Soft mode: Polyak-average every update. Every `target_update_interval` episodes: the hard copy
        (hard mode) and `on_target_interval` (both modes). `after_update` runs first, every update."""
        self.after_update()
        if self.args.target_update_mode == "soft":
            self.soft_update_targets(self.args.target_update_tau)
        if (episode_num - self.last_target_update_episode) / self.args.target_update_interval >= 1.0:
            if self.args.target_update_mode == "hard":
                self.update_targets()
            self.on_target_interval()
            self.last_target_update_episode = episode_num

    def observe_new_episodes(self, batch: EpisodeBatch, t_env: int) -> None:
        """Hook: freshly collected episodes, before they are stored (salemb scores its world model on them)."""

    def train_world_model(self, buffer: Any, t_env: int) -> Callable[[], dict[str, torch.Tensor]] | None:
        """Hook: a call that trains a model on its own schedule beside the loop, or None (salemb's)."""
        return None

    def log_world_model(self, stats: dict[str, torch.Tensor], t_env: int) -> None:
        """Log the stats a `train_world_model` call returned, at the env step it was made."""
        if stats:
            self._log(t_env, stats)

    def after_update(self) -> None:
        """Hook run after every optimiser step (salemb's soft refresh of its fixed SALE encoders)."""

    def on_target_interval(self) -> None:
        """Hook for learners with other slowly-refreshed parts (salemb's fixed SALE encoders)."""

    def update_targets(self) -> None:
        self.target_mac.load_state(self.mac)
        if self.mixer is not None:
            self.target_mixer.load_state_dict(self.mixer.state_dict())

    def soft_update_targets(self, tau: float) -> None:
        soft_update(self.target_mac.agent, self.mac.agent, tau)
        if self.mixer is not None:
            soft_update(self.target_mixer, self.mixer, tau)

    def to(self, device: str | torch.device) -> QLearner:
        self.mac.to(device)
        self.target_mac.to(device)
        if self.mixer is not None:
            self.mixer.to(device)
            self.target_mixer.to(device)
        return self

    def state_dict(self) -> dict[str, Any]:
        """Everything learning needs to continue exactly: networks, targets, optimiser, counters."""
        state = {
            "agent": self.mac.state_dict(),
            "target_agent": self.target_mac.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "last_target_update_episode": self.last_target_update_episode,
            "log_stats_t": self.log_stats_t,
            "train_steps": self.train_steps,
            "nonfinite_skipped": self.nonfinite.skipped,
        }
        if self.mixer is not None:
            state["mixer"] = self.mixer.state_dict()
            state["target_mixer"] = self.target_mixer.state_dict()
        if self.rew_ms is not None:
            state["rew_ms"] = self.rew_ms.state_dict()
        return state

    def checkpoint_files(self, state: dict[str, Any]) -> dict[str, Any]:
        """PyMARL's files, written beside the whole run's state.th, from this learner's `state_dict()`:
        agent.th, opt.th and, with a mixer, mixer.th."""
        files = {"agent.th": state["agent"], "opt.th": state["optimiser"]}
        if "mixer" in state:
            files["mixer.th"] = state["mixer"]
        return files

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mac.load_state_dict(state["agent"])
        self.target_mac.load_state_dict(state.get("target_agent", state["agent"]))
        if self.mixer is not None:
            self.mixer.load_state_dict(state["mixer"])
            self.target_mixer.load_state_dict(state.get("target_mixer", state["mixer"]))
        if "optimiser" in state:
            self.optimiser.load_state_dict(state["optimiser"])
        self.last_target_update_episode = state.get("last_target_update_episode", 0)
        self.log_stats_t = state.get("log_stats_t", self.log_stats_t)
        self.train_steps = state.get("train_steps", 0)
        self.nonfinite.skipped = state.get("nonfinite_skipped", 0)
        if self.rew_ms is not None and "rew_ms" in state:
            self.rew_ms.load_state_dict(state["rew_ms"])

"""salemb's model-based part, one object that both salemb learners hold: the world model, its own
training schedule, its accuracy check on fresh episodes (and the imagination gate that follows it), and
the imagination runner that rolls it out.

The learner keeps what belongs to its update: the optimiser groups (the part steps the one it is bound
to, `bind_optimiser`: the world model's own in the decoupled mode, the single one with `unified_loss`),
the world-model loss inside the update (`wm_train_ratio: 0`) and the imagined TD.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from components.episode_buffer import EpisodeBatch
from learners.nonfinite import NonFiniteGuard, checked_values
from modules.world_models import REGISTRY as wm_REGISTRY
from modules.world_models.protocol import WorldModel
from modules.world_models.rollout_eval import add_sums, finish_rollout_error, rollout_error_sums
from runners.imagination_runner import ImaginationRunner


class ModelBasedPart:
    def __init__(self, args: Any, mac: Any, runner_scheme: dict[str, Any], logger: Any, nonfinite: NonFiniteGuard,
                 update_number: Callable[[], int]):
        """`update_number()`: the number of the learner's next update (named in a non-finite error)."""
        self.args = args
        self.logger = logger
        self.nonfinite = nonfinite
        self.update_number = update_number
        self.model: WorldModel = wm_REGISTRY[args.world_model](args.state_shape, args.obs_shape, args.n_agents, args.n_actions, args)
        self.imagination = ImaginationRunner(args, self.model, mac, runner_scheme)
        self.optimiser: torch.optim.Optimizer | None = None
        self.params: list[torch.nn.Parameter] = []
        self.eval_t = -args.wm_eval_interval - 1
        self.eval_pool: dict[str, float] | None = None
        self.trusted = not args.imagine_gate
        self.credit = 0.0
        self.last_t = 0
        self.train_steps = 0
        self.log_t = -args.learner_log_interval - 1

    def bind_optimiser(self, optimiser: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> None:
        """The optimiser (and the parameters it clips together) that the part's own steps take."""
        self.optimiser, self.params = optimiser, params

    def imagination_due(self, t_env: int) -> bool:
        """Whether an update adds imagined TD: a positive `imagine_coef`, past `imagine_start`, and (with
        `imagine_gate`) the latest world-model check beating copy-last."""
        args = self.args
        return args.imagine_coef > 0 and t_env >= args.imagine_start and self.trusted

    def schedule(self, buffer: Any, t_env: int) -> Callable[[], dict[str, torch.Tensor]] | None:
        """The world model's own schedule (`wm_train_ratio` > 0): `wm_train_ratio` replayed transitions
        per env step collected since the last call, as Dreamer's train ratio, in steps of
        `wm_batch_size` windows of `wm_window` steps drawn from the whole buffer (the fraction of a step
        carries over). Independent of the Q-learner's one update per collection.

        The windows are drawn now, with the buffer's generator; the returned call (None when no step is
        due) copies them out, trains on them and returns the stats to log (empty when no log is due).
        The loop runs that call on its side thread while it tests and collects, and waits for it before
        the buffer changes or anything reads the model (`Experiment.learn_world_model`)."""
        args = self.args
        new_steps, self.last_t = t_env - self.last_t, t_env
        if args.wm_train_ratio <= 0 or buffer.episodes_in_buffer == 0:
            return None
        self.credit += new_steps * args.wm_train_ratio / (args.wm_batch_size * (args.wm_window - 1))
        n_steps = int(self.credit)
        self.credit -= n_steps
        if not n_steps:
            return None
        drawn = buffer.draw_windows(args.wm_batch_size, args.wm_window, n_steps)
        log_due = t_env - self.log_t >= args.learner_log_interval
        if log_due:
            self.log_t = t_env

        def fit() -> dict[str, torch.Tensor]:
            stats: dict[str, torch.Tensor] = {}
            for windows in drawn:
                stats = self.step(buffer.windows_at(windows, args.wm_window).to(args.device), t_env)
            return {**stats, "wm_train_steps": torch.tensor(float(self.train_steps))} if log_due else {}

        return fit

    def step(self, windows: EpisodeBatch, t_env: int) -> dict[str, torch.Tensor]:
        """One optimiser step of the world model on `windows` (clipped by `aux_grad_norm_clip`, skipped when
        a value is not finite, as `nan_policy` says); returns the loss's parts and `grad_norm_wm`."""
        self.optimiser.zero_grad(set_to_none=True)
        loss, stats = self.model.loss(windows)
        loss.backward()
        stats["grad_norm_wm"] = torch.nn.utils.clip_grad_norm_(self.params, self.args.aux_grad_norm_clip)
        if not self.nonfinite.check(checked_values(stats), t_env, self.update_number()):
            self.optimiser.zero_grad(set_to_none=True)
            return stats
        self.optimiser.step()
        self.train_steps += 1
        return stats

    @torch.no_grad()
    def observe_new_episodes(self, batch: EpisodeBatch, t_env: int) -> None:
        """World-model accuracy on fresh episodes, each scored before the model trains on it: the H-step
        prediction errors of every freshly collected batch are pooled (`rollout_eval`), and every
        `wm_eval_interval` env steps, once at least `wm_eval_episodes` episodes are pooled, logged as
        `wm_eval_*` (observations, the observation elements that changed, state, reward, termination,
        beside copy-last and predict-zero baselines) and the pool is emptied. With `imagine_gate` the
        imagination runs while the latest check's observation error is below (1 - `imagine_gate_margin`)
        x copy-last's and its reward error below predict-zero's."""
        args = self.args
        sums = rollout_error_sums(self.model, batch.to(args.device), args.imagine_horizon)
        sums["episodes"] = float(batch.batch_size)
        self.eval_pool = add_sums(self.eval_pool, sums)
        if t_env - self.eval_t < args.wm_eval_interval or self.eval_pool["episodes"] < args.wm_eval_episodes:
            return
        errors = finish_rollout_error(self.eval_pool)
        self.eval_pool = None
        self.eval_t = t_env
        for key, value in errors.items():
            self.logger.log_stat(f"wm_eval_{key}", float(value), t_env)
        if args.imagine_gate:
            obs_ok = errors["obs_mse"] < (1 - args.imagine_gate_margin) * errors["obs_mse_copy_last"]
            reward_ok = not errors["reward_mse"] >= errors["reward_mse_zero"]
            self.trusted = bool(obs_ok and reward_ok)
            self.logger.log_stat("imagine_gate_open", float(self.trusted), t_env)

    def to(self, device: str | torch.device) -> None:
        self.model.to(device)

    def state_dict(self) -> dict[str, Any]:
        """The model, its generator's state, the check and the schedule (the keys a salemb checkpoint has
        always had, so older checkpoints load)."""
        return {
            "world_model": self.model.state_dict(),
            "wm_rng": self.model.rng_state(),
            "wm_eval_t": self.eval_t,
            "wm_trusted": self.trusted,
            "wm_schedule": {"credit": self.credit, "last_t": self.last_t, "steps": self.train_steps,
                            "log_t": self.log_t, "eval_pool": self.eval_pool},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["world_model"])
        self.model.set_rng_state(state.get("wm_rng"))
        self.eval_t = state.get("wm_eval_t", self.eval_t)
        self.trusted = state.get("wm_trusted", self.trusted)
        self.eval_pool = state.get("wm_eval_pool", self.eval_pool)  # where the continuous learner kept it
        schedule = state.get("wm_schedule")
        if schedule is not None:
            self.credit, self.last_t, self.train_steps = schedule["credit"], schedule["last_t"], schedule["steps"]
            self.log_t, self.eval_pool = schedule["log_t"], schedule["eval_pool"]

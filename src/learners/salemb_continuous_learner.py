"""salemb (MMSA) for continuous actions: FACMAC's factored actor-critic with TD7's SALE, salemb's world
model and critic TD on imagined roll-outs in which the actors act.

The parts are salemb's own: the `sale_actor` agent owns each agent's SALE encoders (f, g over the action
vector) and hands the `sale` critic [z_s, z_sa] of the fixed copies, as TD7 does; the VAE world model
(joint SALE of its latent and the joint action vector in the transition) trains on the real batch; the
`imagination` runner rolls it forward with the actors choosing the actions (with their exploration
noise unless `imagine_greedy`). One `train` call on a real batch `[B, T, ...]` updates, each part with
its own optimiser and all from the same parameters:
  world model (every `wm_update_interval` updates) and SALE prediction;
  critic: TD(lambda) on the real batch + `imagine_coef` x TD(lambda) on imagined roll-outs (once
          t_env >= `imagine_start`);
  actors: FACMAC's centralised policy gradient on the real batch (every `actor_update_interval` updates).
The fixed SALE copies move forward every `target_update_interval` episodes (salemb's refresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from components.episode_buffer import EpisodeBatch
from learners.actor_critic_learner import ActorCriticLearner
from learners.model_based_part import ModelBasedPart
from learners.q_learner import make_optimiser
from learners.salemb_config import SALEMBConfig
from learners.salemb_learner import SALEMBHooks, agent_sale_loss
from runners.imagination_runner import hidden_before
from utils.component_config import key


def actor_states(mac: Any, batch: EpisodeBatch) -> torch.Tensor:
    """The actors' recurrent states over a batch from a zero start, `[batch * agents, T, hidden]`
    (row b * agents + a; width 0 for feed-forward actors), without a graph."""
    B, T, A = batch.batch_size, batch.max_seq_length, mac.n_agents
    with torch.no_grad():
        inputs = mac.build_sequence_inputs(batch).transpose(1, 2).reshape(B * A, T, -1)
        return mac.agent.hidden_sequence(inputs, mac.agent.init_hidden().expand(B * A, -1))


class SALEMBContinuousLearner(SALEMBHooks, ActorCriticLearner):
    components = ("mixer", "critic", "world_model")

    @dataclass(frozen=True)
    class Config(SALEMBConfig, ActorCriticLearner.Config):
        sale_detach: bool = key(True, "TD7: the actor and the critic read fixed encoder copies; the SALE loss alone trains the encoders")

    def __init__(self, mac: Any, scheme: dict[str, Any], logger: Any, args: Any):
        for name, wrong, why in (
            ("mixer_foresight", True, "its roll-outs pick actions by an argmax"),
            ("unified_loss", True, "actors and critics need their own optimisers"),
            ("sale_detach", False, "the actor and the critic read TD7's fixed encoder copies"),
        ):
            if vars(args)[name] is wrong:
                raise ValueError(f"{name}={wrong} is not available with continuous actions ({why}); set {name}={not wrong}")
        if args.imagine_epsilon is not None:
            raise ValueError(f"imagine_epsilon={args.imagine_epsilon} is not available with continuous actions (they explore by "
                             "Gaussian noise, act_noise); set imagine_epsilon=null")
        super().__init__(mac, scheme, logger, args)
        self.has_agent_sale = hasattr(mac.agent, "sale_loss")
        runner_scheme = {k: v for k, v in scheme.items() if k != "filled"}
        self.model_part = (
            ModelBasedPart(args, mac, runner_scheme, logger, self.nonfinite, lambda: self.train_steps + 1)
            if args.use_world_model else None
        )
        if self.has_agent_sale:
            self.groups["sale"] = list(mac.agent.sale_parameters())
            self.optimisers["sale"] = make_optimiser(self.groups["sale"], args, lr=args.sale_lr)
        if self.model_part is not None:
            self.groups["wm"] = list(self.world_model.parameters())
            self.optimisers["wm"] = make_optimiser(self.groups["wm"], args, lr=args.wm_lr)
            self.model_part.bind_optimiser(self.optimisers["wm"], self.groups["wm"])
        self.params = [p for group in self.groups.values() for p in group]

    def losses(
        self, batch: EpisodeBatch, t_env: int, per_weights: torch.Tensor | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """FACMAC's losses, the critic's with `imagine_coef` x TD on roll-outs from the batch's first
        `imagine_batch_size` episodes (once t_env >= `imagine_start`), plus the world model's (every
        `wm_update_interval` updates) and the SALE prediction loss, each for its own optimiser."""
        args = self.args
        stats: dict[str, torch.Tensor] = {}
        losses: dict[str, torch.Tensor] = {}
        if self.world_model is not None and self.train_steps % args.wm_update_interval == 0:
            wm_loss, wm_stats = self.world_model.loss(batch[: min(args.wm_batch_size, batch.batch_size)])
            losses["wm"] = args.wm_coef * wm_loss
            stats.update(wm_stats)
        if self.has_agent_sale:
            sale_loss = agent_sale_loss(self.mac, batch)
            losses["sale"] = args.sale_coef * sale_loss
            stats["loss_sale"] = sale_loss.detach()
        ac_losses, ac_stats = super().losses(batch, t_env, per_weights)
        losses.update(ac_losses)
        stats.update(ac_stats)
        if self.imagination_due(t_env):
            real = batch[: min(args.imagine_batch_size, batch.batch_size)]
            hidden, target_hidden = actor_states(self.mac, real), actor_states(self.target_mac, real)
            imagined, starts = self.model_part.imagination.run(real, t_env, hidden)
            h_init = (hidden_before(hidden, starts, self.mac), hidden_before(target_hidden, starts, self.mac))
            td_img, _ = self.td_loss(imagined, h_init=h_init)
            losses["critic"] = losses["critic"] + args.imagine_coef * td_img
            filled = imagined["filled"][:, :-1].float()
            stats.update(
                loss_td_imagined=td_img.detach(),
                imagined_return_mean=(imagined["reward"][:, :-1] * filled).sum() / imagined.batch_size,
                imagined_length_mean=filled.sum() / imagined.batch_size,
            )
        return losses, stats

    def to(self, device: str | torch.device) -> SALEMBContinuousLearner:
        super().to(device)
        if self.model_part is not None:
            self.model_part.to(device)
        return self

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.model_part is not None:
            state.update(self.model_part.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.model_part is not None:
            self.model_part.load_state_dict(state)

"""Action selectors: turn agent outputs `[batch, agents, actions]` into actions: indices `[batch, agents]`
(discrete) or vectors `[batch, agents, D]` in [-1, 1] (continuous)."""

from __future__ import annotations

from typing import Any

import torch

from components.epsilon_schedules import DecayThenFlatSchedule


def uniform_available(avail_actions: torch.Tensor) -> torch.Tensor:
    """A uniformly random available action per row: avail `[..., actions]` (1 = available) -> `[...]`.

    The same draws and results as `torch.multinomial(avail.float(), 1)`, which on the CPU takes
    argmax(p / q) with q ~ Exp(1); done here directly because multinomial's input checks cost about
    three times the draw on an acting step's few rows.
    """
    p = avail_actions.float()
    return (p / torch.empty_like(p).exponential_()).argmax(dim=-1)


class EpsilonGreedyActionSelector:
    """Greedy over available actions, uniformly random among available ones with probability epsilon."""

    def __init__(self, args: Any):
        self.schedule = DecayThenFlatSchedule(
            args.epsilon_start, args.epsilon_finish, args.epsilon_anneal_time, decay=getattr(args, "epsilon_decay", "linear")
        )
        self.epsilon = self.schedule.eval(0)
        self.test_noise = getattr(args, "test_noise", 0.0)

    def select_action(self, agent_inputs: torch.Tensor, avail_actions: torch.Tensor, t_env: int, test_mode: bool = False) -> torch.Tensor:
        self.epsilon = self.test_noise if test_mode else self.schedule.eval(t_env)
        masked_q = agent_inputs.masked_fill(avail_actions == 0, -float("inf"))
        greedy = masked_q.argmax(dim=-1)
        if self.epsilon <= 0.0:
            return greedy
        rand = torch.rand(greedy.shape, device=agent_inputs.device)
        return torch.where(rand < self.epsilon, uniform_available(avail_actions), greedy)


class GaussianActionSelector:
    """Exploration around a deterministic actor: its action `[batch, agents, D]` plus N(0, act_noise^2)
    noise (`test_noise` in test mode), clipped to [-1, 1]; uniformly random in [-1, 1] for the first
    `start_steps` env steps of training. Padded dimensions (avail 0) are always 0."""

    def __init__(self, args: Any):
        self.act_noise = args.act_noise
        self.start_steps = args.start_steps
        self.test_noise = getattr(args, "test_noise", 0.0)

    def select_action(self, agent_inputs: torch.Tensor, avail_actions: torch.Tensor, t_env: int, test_mode: bool = False) -> torch.Tensor:
        if not test_mode and t_env < self.start_steps:
            actions = torch.rand_like(agent_inputs) * 2.0 - 1.0
        else:
            std = self.test_noise if test_mode else self.act_noise
            actions = agent_inputs + std * torch.randn_like(agent_inputs) if std > 0 else agent_inputs
        return actions.clamp(-1.0, 1.0) * avail_actions.to(actions.dtype)


REGISTRY: dict[str, type] = {"epsilon_greedy": EpsilonGreedyActionSelector, "gaussian": GaussianActionSelector}

# Selectors that act with continuous (Box) actions.
CONTINUOUS_ACTIONS: set[str] = {"gaussian"}

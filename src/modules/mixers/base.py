"""What every mixer is to the Q-learner: per-agent Q-values and the state in, Q_tot out.

    forward(agent_qs `[batch, time, agents]`, states `[batch, time, state]`, **extra) -> `[batch, time, 1]`

A mixer that needs more than (Q, state) names it in `extra_inputs`, and the learner's `mix` hook passes
it (nothing else changes in the learner):
  - "actions": the one-hot actions whose values `agent_qs` holds, `[batch, time, agents, actions]`;
  - "max_qs": each agent's max Q over its available actions, `[batch, time, agents]`.
For the TD target, `agent_qs` are the target network's values of the greedy actions (double Q: the
online network's argmax) and "actions" those greedy actions.
"""

from __future__ import annotations

import torch
import torch.nn as nn

EXTRA_INPUTS = frozenset({"actions", "max_qs"})


class Mixer(nn.Module):
    extra_inputs: frozenset[str] = frozenset()

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

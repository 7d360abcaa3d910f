"""SALE: state-action learned embeddings (TD7, Fujimoto et al. 2023), written for this project.

A state encoder f maps an input x to z_s = AvgL1Norm(MLP(x)); a state-action encoder g maps
(z_s, a) to z_sa = MLP([z_s, a]). They are trained only by predicting the next state's embedding:
g(f(x_t), a_t) ~ stop_grad(f(x_{t+1})). Value networks read a *fixed* copy of the encoders that
`SALEPair.refresh` moves forward at each target update.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.component_config import AT_LEAST_1, NON_NEGATIVE, key
from utils.rl_utils import soft_update

# Below this many hidden activations (rows x hidden), `dot_all_actions` takes every action in one pass.
SMALL_BATCH_ELEMENTS = 64 * 64

ACTIVATIONS = {"elu": (F.elu, nn.ELU), "relu": (F.relu, nn.ReLU)}


@dataclass(frozen=True)
class SALEConfig:
    """The keys of every agent that owns SALE encoders (sale_rnn, sale_actor)."""

    sale_embed_dim: int = key(32, "SALE embedding size (z_s, z_sa) of the agents' encoders", AT_LEAST_1)
    sale_hidden_dim: int = key(64, "hidden width of the SALE encoders f and g (g runs once per action)", AT_LEAST_1)
    sale_activation: str = key("elu", "SALE encoders' and the agent head's activation: elu (TD7) or relu (~14x cheaper per call on a CPU)",
                               choices=("elu", "relu"))
    sale_spread_coef: float = key(0.0, "> 0: adds this weight x VICReg's variance hinge on z_s to the SALE loss (against the embedding collapsing to one vector)",
                                  NON_NEGATIVE)


def _check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The element-wise activation `name`: 'elu' (TD7's and Dreamer's choice) or 'relu' (about 14x
    cheaper per call on this project's 2-core CPU, measured on a [13k, 64] tensor)."""
    _check_activation(name)
    return ACTIVATIONS[name][0]


def activation_module(name: str) -> nn.Module:
    """A fresh activation layer of kind `name` (see `activation`)."""
    _check_activation(name)
    return ACTIVATIONS[name][1]()


def avg_l1_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x `[..., D]` divided by the mean of |x| over its last dimension (at least `eps`); same shape."""
    return x / x.abs().mean(dim=-1, keepdim=True).clamp(min=eps)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the valid elements. pred, target `[..., D]`; mask broadcastable to
    `[..., 1]` (e.g. `[B, T, 1]`), 1 = valid. Returns a scalar (0 when nothing is valid)."""
    weight = mask.to(pred.dtype).expand_as(pred)
    return ((pred - target) ** 2 * weight).sum() / weight.sum().clamp(min=1.0)


def spread_penalty(z: torch.Tensor, mask: torch.Tensor, target: float = 1.0) -> torch.Tensor:
    """VICReg's variance hinge against a collapsing embedding: the mean over features of
    relu(target - std), the per-feature standard deviation taken over the valid rows.
    z `[..., D]`, mask broadcastable to `[..., 1]`. Returns a scalar (0 with fewer than 2 valid rows)."""
    weight = mask.to(z.dtype).expand(*z.shape[:-1], 1).reshape(-1, 1)
    flat = z.reshape(-1, z.shape[-1])
    n = weight.sum()
    if n < 2:
        return z.new_zeros(())
    mean = (flat * weight).sum(0) / n
    var = ((flat - mean) ** 2 * weight).sum(0) / (n - 1)
    return F.relu(target - torch.sqrt(var + 1e-4)).mean()


class StateEncoder(nn.Module):
    """f: x `[..., in_dim]` -> z_s `[..., embed_dim]`, three linear layers with ELU (or `act`), then AvgL1Norm."""

    def __init__(self, in_dim: int, embed_dim: int, hidden_dim: int, act: str = "elu"):
        super().__init__()
        self.l1 = nn.Linear(in_dim, hidden_dim)
        self.l2 = nn.Linear(hidden_dim, hidden_dim)
        self.l3 = nn.Linear(hidden_dim, embed_dim)
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.l2(self.act(self.l1(x))))
        return avg_l1_norm(self.l3(h))


class StateActionEncoder(nn.Module):
    """g: (z_s `[..., embed_dim]`, a `[..., action_dim]`) -> z_sa `[..., embed_dim]`, three linear layers
    with ELU (or `act`) and no normalisation of the output.

    The action joins at the second layer: z_sa = l3(relu(l2(elu(l1(z_s))) + W_a a)). With discrete
    actions every action is evaluated at every step, so only the last layer runs once per action
    (`forward_all_actions`); TD7 feeds the action to the first layer, which costs a full MLP per action.
    The per-action activation is ReLU: ELU's exp made it 7x slower on the CPU.
    """

    def __init__(self, embed_dim: int, action_dim: int, hidden_dim: int, act: str = "elu"):
        super().__init__()
        self.act = activation(act)
        self.l1 = nn.Linear(embed_dim, hidden_dim)
        self.l2 = nn.Linear(hidden_dim, hidden_dim)
        self.l2_action = nn.Linear(action_dim, hidden_dim, bias=False)
        self.l3 = nn.Linear(hidden_dim, embed_dim)

    def forward(self, z_s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z_s `[..., embed_dim]`, a `[..., action_dim]` -> z_sa `[..., embed_dim]`."""
        return self.l3(F.relu(self._state_part(z_s) + self.l2_action(a)))

    def forward_all_actions(self, z_s: torch.Tensor) -> torch.Tensor:
        """z_sa for every one-hot action: z_s `[..., embed_dim]` -> `[..., action_dim, embed_dim]`."""
        per_action = self.l2_action.weight.t()  # row u = W_a onehot(u): [action_dim, hidden]
        return self.l3(F.relu(self._state_part(z_s).unsqueeze(-2) + per_action))

    def dot_all_actions(self, z_s: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """<query, z_sa(u)> for every one-hot action u: z_s, query `[..., embed_dim]` -> `[..., action_dim]`.

        Equal to `(forward_all_actions(z_s) * query.unsqueeze(-2)).sum(-1)`, with the last layer folded
        into the query (<q, W r + b> = <W^T q, r> + <q, b>), so l3 never runs once per action.
        """
        state = self._state_part(z_s)  # [..., hidden]
        folded = query @ self.l3.weight  # [..., hidden]
        per_action = self.l2_action.weight  # column u = W_a onehot(u): [hidden, actions]
        bias = (query * self.l3.bias).sum(-1, keepdim=True)
        if state.numel() < SMALL_BATCH_ELEMENTS:  # acting: a few rows, one broadcast pass costs least
            return (F.relu(state.unsqueeze(-2) + per_action.t()) * folded.unsqueeze(-2)).sum(-1) + bias
        # learning: one [..., hidden] pass per action; materialising [..., actions, hidden] at once was
        # 2x slower forward and backward on the CPU (its passes fall out of cache). Same numbers. The
        # ReLU runs in place on the sum (one buffer per action, not two) and each action's row is
        # contiguous: 1.3x faster than relu(state + per_action[:, u]), the same values and gradients.
        rows = per_action.t().contiguous()  # [actions, hidden]
        dots = [((state + rows[u]).relu_() * folded).sum(-1) for u in range(rows.shape[0])]
        return torch.stack(dots, dim=-1) + bias

    def _state_part(self, z_s: torch.Tensor) -> torch.Tensor:
        return self.l2(self.act(self.l1(z_s)))


class SALE(nn.Module):
    """The encoder pair (f, g) and its next-embedding prediction loss."""

    def __init__(self, in_dim: int, action_dim: int, embed_dim: int, hidden_dim: int, act: str = "elu"):
        super().__init__()
        self.f = StateEncoder(in_dim, embed_dim, hidden_dim, act)
        self.g = StateActionEncoder(embed_dim, action_dim, hidden_dim, act)

    def encode_state(self, x: torch.Tensor) -> torch.Tensor:
        """x `[..., in_dim]` -> z_s `[..., embed_dim]`."""
        return self.f(x)

    def encode_state_action(self, z_s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z_s `[..., embed_dim]`, a `[..., action_dim]` -> z_sa `[..., embed_dim]`."""
        return self.g(z_s, a)

    def predict_next(self, z_s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """The predicted next state embedding (the output of g): `[..., embed_dim]`."""
        return self.g(z_s, a)

    def loss(self, x_t: torch.Tensor, a_t: torch.Tensor, x_next: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked MSE(g(f(x_t), a_t), stop_grad(f(x_next))). x_t, x_next `[..., in_dim]`,
        a_t `[..., action_dim]`, mask broadcastable to `[..., 1]`. Returns a scalar."""
        pred = self.predict_next(self.encode_state(x_t), a_t)
        with torch.no_grad():
            target = self.encode_state(x_next)
        return masked_mse(pred, target, mask)

    def sequence_loss(self, x: torch.Tensor, a: torch.Tensor, mask: torch.Tensor, spread_coef: float = 0.0) -> torch.Tensor:
        """The same loss on consecutive steps of sequences, encoding each step once.

        x `[N, T, in_dim]`, a `[N, T, action_dim]`, mask `[N, T, 1]`: mask[:, t] = 1 when action a_t was
        taken and x_{t+1} exists. Pairs (x_t, a_t) -> x_{t+1} for t < T - 1. Returns a scalar.
        With `spread_coef` > 0 it adds that weight times `spread_penalty` of the state embeddings z_t:
        predicting the next embedding is also solved by one embedding for every state, and where the
        inputs change little from step to step (LBF) the encoders drift towards it.
        """
        z = self.encode_state(x)
        pred = self.predict_next(z[:, :-1], a[:, :-1])
        loss = masked_mse(pred, z[:, 1:].detach(), mask[:, :-1])
        if spread_coef > 0:
            loss = loss + spread_coef * spread_penalty(z[:, :-1], mask[:, :-1])
        return loss


class SALEPair(nn.Module):
    """TD7's copies of one SALE: `current` (trained by the SALE loss), `fixed` (read by the value
    networks) and `fixed_target` (the previous fixed copy, for target values). The two copies never
    take gradients; `refresh` moves them one interval forward."""

    def __init__(self, sale: SALE):
        super().__init__()
        self.current = sale
        self.fixed = copy.deepcopy(sale).requires_grad_(False)
        self.fixed_target = copy.deepcopy(sale).requires_grad_(False)

    @torch.no_grad()
    def refresh(self, tau: float | None = None) -> None:
        """fixed_target <- fixed, then fixed <- current (hard copies); with `tau`, fixed moves the fraction
        tau of the way to current (Polyak averaging) and fixed_target stays."""
        if tau is None:
            self.fixed_target.load_state_dict(self.fixed.state_dict())
            self.fixed.load_state_dict(self.current.state_dict())
            return
        soft_update(self.fixed, self.current, tau)

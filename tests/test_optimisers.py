"""The optimiser implementations (`optimizer_impl`) and the grouped soft target update."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from learners.q_learner import make_optimiser
from utils.rl_utils import soft_update


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def trained(optimizer: str, impl: str, steps: int = 20) -> list[torch.Tensor]:
    model = net()
    args = SimpleNamespace(lr=0.01, optimizer=optimizer, optim_alpha=0.99, optim_eps=1e-5, optimizer_impl=impl, weight_decay=0.0)
    opt = make_optimiser(list(model.parameters()), args)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(32, 6, generator=gen)
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_foreach_gives_the_for_loop_numbers_and_fused_is_close(optimizer: str) -> None:
    loop = trained(optimizer, "for_loop")
    assert all(torch.equal(a, b) for a, b in zip(loop, trained(optimizer, "foreach")))
    fused = trained(optimizer, "fused") if optimizer == "adam" else loop
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(loop, fused))
    assert not all(torch.equal(a, b) for a, b in zip(loop, [p.detach() for p in net().parameters()]))


def test_unknown_optimizer_impl_is_named() -> None:
    args = SimpleNamespace(lr=0.01, optimizer="adam", optimizer_impl="vectorised", weight_decay=0.0)
    with pytest.raises(ValueError, match=r"optimizer_impl must be one of \['for_loop', 'foreach', 'fused'\], got 'vectorised'"):
        make_optimiser(list(net().parameters()), args)


def test_soft_update_is_the_per_tensor_polyak_average() -> None:
    source, target = net(), net()
    with torch.no_grad():
        for p in target.parameters():
            p.mul_(-0.5).add_(0.1)
    expected = copy.deepcopy(target)
    with torch.no_grad():
        for t, s in zip(expected.parameters(), source.parameters()):
            t.mul_(1.0 - 0.005).add_(s, alpha=0.005)
    soft_update(target, source, 0.005)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), expected.parameters()))


def test_soft_update_of_a_module_without_parameters_does_nothing() -> None:
    soft_update(nn.Identity(), nn.Identity(), 0.005)

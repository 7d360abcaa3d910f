"""small_bmm gives torch.bmm's values and gradients, bitwise, for the mixer's shapes and beyond."""

import pytest
import torch
import torch.nn.functional as F

from modules.mixers import REGISTRY
from modules.mixers.small_bmm import ORDERED_SUM_MAX, small_bmm
from tests.args_helper import run_args


def bmm_and_grads(mm, a: torch.Tensor, b: torch.Tensor, grad: torch.Tensor) -> list[torch.Tensor]:
    a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
    out = mm(a, b)
    out.backward(grad)
    return [out.detach(), a.grad, b.grad]


@pytest.mark.parametrize("agents", [1, 2, 3, 5, 8, 12, 13, 16, 17, 27])
@pytest.mark.parametrize("embed", [8, 32, 64])
def test_the_mixers_two_products_equal_bmm_bitwise(agents, embed):
    """[N, 1, agents] @ [N, agents, embed] (the ordered sum up to ORDERED_SUM_MAX agents, bmm beyond) and
    [N, 1, embed] @ [N, embed, 1] (bmm forward; one-term gradients as products)."""
    gen = torch.Generator().manual_seed(agents * 100 + embed)
    n = 1600
    qs, w1 = torch.randn(n, 1, agents, generator=gen), torch.randn(n, agents, embed, generator=gen).abs()
    grad_hidden = torch.randn(n, 1, embed, generator=gen)
    for got, want in zip(bmm_and_grads(small_bmm, qs, w1, grad_hidden), bmm_and_grads(torch.bmm, qs, w1, grad_hidden)):
        assert torch.equal(got, want)
    hidden, w_final, grad_y = torch.randn(n, 1, embed, generator=gen), torch.randn(n, embed, 1, generator=gen), torch.randn(n, 1, 1, generator=gen)
    for got, want in zip(bmm_and_grads(small_bmm, hidden, w_final, grad_y), bmm_and_grads(torch.bmm, hidden, w_final, grad_y)):
        assert torch.equal(got, want)


def test_larger_rows_and_one_sided_gradients():
    gen = torch.Generator().manual_seed(0)
    a, b, grad = torch.randn(50, 3, 4, generator=gen), torch.randn(50, 4, 6, generator=gen), torch.randn(50, 3, 6, generator=gen)
    assert torch.equal(small_bmm(a, b), torch.bmm(a, b))
    b_only = b.clone().requires_grad_()
    small_bmm(a, b_only).backward(grad)
    assert torch.equal(b_only.grad, torch.bmm(a.transpose(1, 2), grad))
    a_only = a.clone().requires_grad_()
    small_bmm(a_only, b).backward(grad)
    assert torch.equal(a_only.grad, torch.bmm(grad, b.transpose(1, 2)))
    assert ORDERED_SUM_MAX >= 4  # the few-agent mixers this is for take the ordered sum


def test_wrong_shapes_are_named():
    with pytest.raises(ValueError, match=r"\[N, I, K\] by \[N, K, J\]; got \[4, 1, 3\] and \[4, 2, 8\]"):
        small_bmm(torch.zeros(4, 1, 3), torch.zeros(4, 2, 8))


def reference_qmix(mixer, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """QMixer.forward written with torch.bmm."""
    s = states.reshape(-1, mixer.state_dim)
    qs = agent_qs.reshape(-1, 1, mixer.n_agents)
    w1 = mixer._positive(mixer.hyper_w_1(s)).view(-1, mixer.n_agents, mixer.embed_dim)
    hidden = F.elu(torch.bmm(qs, w1) + mixer.hyper_b_1(s).view(-1, 1, mixer.embed_dim))
    w_final = mixer._positive(mixer.hyper_w_final(s)).view(-1, mixer.embed_dim, 1)
    return (torch.bmm(hidden, w_final) + mixer.V(s).view(-1, 1, 1)).view(*agent_qs.shape[:2], 1)


@pytest.mark.parametrize("agents", [2, 5])
def test_qmix_values_and_every_gradient_equal_the_bmm_mixer(agents):
    torch.manual_seed(agents)
    mixer = REGISTRY["qmix"](run_args(mixer="qmix", n_agents=agents, state_shape=7))
    agent_qs, states = torch.randn(32, 51, agents), torch.randn(32, 51, 7)
    results = []
    for forward in (mixer.forward, lambda q, s: reference_qmix(mixer, q, s)):
        mixer.zero_grad()
        q = agent_qs.clone().requires_grad_()
        q_tot = forward(q, states)
        (q_tot * torch.linspace(-1, 1, q_tot.numel()).view_as(q_tot)).sum().backward()
        results.append([q_tot.detach(), q.grad, *(p.grad.clone() for p in mixer.parameters())])
    for got, want in zip(*results):
        assert torch.equal(got, want)

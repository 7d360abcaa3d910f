from types import SimpleNamespace

import torch

from components.action_selectors import EpsilonGreedyActionSelector
from modules.mixers import REGISTRY

ARGS = SimpleNamespace(n_agents=3, state_shape=5, mixing_embed_dim=8, hypernet_embed=16, hypernet_layers=2)


def test_qmix_is_monotonic_in_every_agent_q():
    torch.manual_seed(0)
    mixer = REGISTRY["qmix"](ARGS)
    qs = torch.randn(4, 6, 3, requires_grad=True)
    states = torch.randn(4, 6, 5) * 3
    q_tot = mixer(qs, states)
    assert q_tot.shape == (4, 6, 1)
    (grad,) = torch.autograd.grad(q_tot.sum(), qs)
    assert (grad >= 0).all()
    assert (grad > 0).any()


def test_vdn_is_the_sum():
    mixer = REGISTRY["vdn"](ARGS)
    qs = torch.randn(2, 4, 3)
    assert torch.allclose(mixer(qs, None), qs.sum(-1, keepdim=True))


def test_epsilon_greedy_respects_avail_actions():
    args = SimpleNamespace(epsilon_start=1.0, epsilon_finish=1.0, epsilon_anneal_time=10)
    sel = EpsilonGreedyActionSelector(args)
    q = torch.zeros(500, 2, 4)
    avail = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 1]]).expand(500, 2, 4)
    acts = sel.select_action(q, avail, t_env=0)
    assert set(acts[:, 0].tolist()) == {0, 2}
    assert set(acts[:, 1].tolist()) == {3}
    greedy = sel.select_action(torch.tensor([[[5.0, 9.0, 1.0, 0.0]]]), torch.tensor([[[1, 0, 1, 1]]]), 0, test_mode=True)
    assert greedy.item() == 0

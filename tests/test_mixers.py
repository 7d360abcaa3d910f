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


QPLEX_ARGS = SimpleNamespace(n_agents=3, n_actions=4, state_shape=5, qplex_heads=2, qplex_hidden=16)


def qplex_inputs(qs: torch.Tensor, joint: list[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For per-agent Q `[agents, actions]` and joint actions: (agent_qs, actions one-hot, max_qs), each with
    the joint actions as the batch axis and time 1."""
    idx = torch.tensor(joint)  # [J, agents]
    agent_qs = qs.gather(1, idx.T).T  # [J, agents]
    onehot = torch.nn.functional.one_hot(idx, qs.shape[1]).float()
    max_qs = qs.max(dim=1)[0].expand(len(joint), -1)
    return agent_qs.unsqueeze(1), onehot.unsqueeze(1), max_qs.unsqueeze(1)


def test_qplex_greedy_joint_action_maximises_q_tot():
    torch.manual_seed(0)
    mixer = REGISTRY["qplex"](QPLEX_ARGS)
    joint = [(a, b, c) for a in range(4) for b in range(4) for c in range(4)]
    for _ in range(5):
        qs, state = torch.randn(3, 4), torch.randn(5) * 3
        agent_qs, onehot, max_qs = qplex_inputs(qs, joint)
        q_tot = mixer(agent_qs, state.expand(len(joint), 1, 5), onehot, max_qs).flatten()
        greedy = tuple(qs.argmax(dim=1).tolist())
        assert joint[int(q_tot.argmax())] == greedy
        assert len(set(q_tot.tolist())) > 1  # not flat: other joint actions are valued below


def test_qplex_trains_the_agents_through_the_values_and_lambda_through_the_advantages():
    torch.manual_seed(1)
    mixer = REGISTRY["qplex"](QPLEX_ARGS)
    qs = torch.randn(3, 4, requires_grad=True)
    agent_qs, onehot, max_qs = qplex_inputs(qs, [(0, 1, 2), (3, 3, 3)])
    q_tot = mixer(agent_qs, torch.randn(2, 1, 5), onehot, max_qs)
    assert q_tot.shape == (2, 1, 1)
    (grad,) = torch.autograd.grad(q_tot.sum(), qs, retain_graph=True)
    assert (grad >= 0).all() and (grad > 0).any()  # monotonic in each agent's values
    lam_grads = torch.autograd.grad(q_tot.sum(), list(mixer.action.parameters()))
    assert any(g.abs().sum() > 0 for g in lam_grads)  # the joint action's weights learn (advantages non-zero)

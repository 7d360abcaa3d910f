"""SALE encoders, their loss and fixed copies, and the sale_rnn agent."""

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from modules.agents import REGISTRY
from modules.sale import SALE, SALEPair, StateActionEncoder, StateEncoder, avg_l1_norm, spread_penalty


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: intra-op threads only contend on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def agent_args(**kw):
    base = dict(rnn_hidden_dim=16, n_actions=5, sale_embed_dim=8, sale_hidden_dim=12)
    base.update(kw)
    return SimpleNamespace(**base)


@pytest.mark.parametrize("c", [1e-3, 0.5, 7.0])
def test_avg_l1_norm_is_scale_invariant_with_unit_mean_abs(c):
    x = torch.randn(4, 3, 10)
    y = avg_l1_norm(x)
    assert torch.allclose(avg_l1_norm(c * x), y, atol=1e-5)
    assert torch.allclose(y.abs().mean(-1), torch.ones(4, 3), atol=1e-5)


def test_avg_l1_norm_of_zero_is_finite():
    assert torch.equal(avg_l1_norm(torch.zeros(2, 4)), torch.zeros(2, 4))


def test_encoder_shapes():
    f, g = StateEncoder(7, 8, 12), StateActionEncoder(8, 3, 12)
    z_s = f(torch.randn(2, 5, 7))
    assert z_s.shape == (2, 5, 8)
    assert g(z_s, torch.randn(2, 5, 3)).shape == (2, 5, 8)
    assert g.forward_all_actions(z_s).shape == (2, 5, 3, 8)


def test_sale_loss_falls_on_linear_dynamics():
    torch.manual_seed(0)
    n_x, n_a = 6, 3
    A, B = torch.randn(n_x, n_x) * 0.5, torch.randn(n_a, n_x)
    sale = SALE(n_x, n_a, embed_dim=8, hidden_dim=32)
    opt = torch.optim.Adam(sale.parameters(), lr=3e-3)
    x = torch.randn(256, n_x)
    a = F.one_hot(torch.randint(0, n_a, (256,)), n_a).float()
    x_next = x @ A + a @ B
    mask = torch.ones(256, 1)
    losses = []
    for _ in range(200):
        loss = sale.loss(x, a, x_next, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_masked_loss_ignores_masked_elements():
    torch.manual_seed(0)
    sale = SALE(4, 2, embed_dim=8, hidden_dim=12)
    x, a, x_next = torch.randn(3, 5, 4), torch.randn(3, 5, 2), torch.randn(3, 5, 4)
    mask = torch.ones(3, 5, 1)
    mask[1, 2:] = 0
    changed = x_next.clone()
    changed[1, 2:] = 100.0
    assert torch.allclose(sale.loss(x, a, x_next, mask), sale.loss(x, a, changed, mask))
    assert not torch.allclose(sale.loss(x, a, x_next, torch.ones_like(mask)), sale.loss(x, a, changed, torch.ones_like(mask)))


def test_sequence_loss_equals_pairwise_loss():
    torch.manual_seed(0)
    sale = SALE(4, 2, embed_dim=8, hidden_dim=12)
    x, a = torch.randn(3, 6, 4), torch.randn(3, 6, 2)
    mask = (torch.rand(3, 6, 1) > 0.3).float()
    expected = sale.loss(x[:, :-1], a[:, :-1], x[:, 1:], mask[:, :-1])
    assert torch.allclose(sale.sequence_loss(x, a, mask), expected)


def test_spread_penalty_is_the_hinge_on_each_features_std_over_valid_rows():
    z = torch.tensor([[0.0, 2.0], [2.0, 2.0], [50.0, -50.0]])
    mask = torch.tensor([[1.0], [1.0], [0.0]])
    std = torch.sqrt(torch.tensor([2.0, 0.0]) + 1e-4)  # unbiased variance over the two valid rows
    expected = torch.relu(1.0 - std).mean()
    assert torch.allclose(spread_penalty(z, mask), expected)
    assert spread_penalty(z[:1], mask[:1]).item() == 0.0  # one row: no spread to measure


def _spread(sale, x):
    with torch.no_grad():
        return sale.encode_state(x).reshape(-1, 8).std(dim=0).mean().item()


@pytest.mark.parametrize("coef", [0.0, 1.0])
def test_a_collapsed_state_embedding_stays_collapsed_unless_its_spread_is_penalised(coef):
    torch.manual_seed(0)
    sale = SALE(6, 3, embed_dim=8, hidden_dim=32)
    with torch.no_grad():  # every state maps (almost) to one embedding: the prediction loss's trivial solution
        sale.f.l3.weight.mul_(1e-4)
        sale.f.l3.bias.copy_(torch.linspace(-1, 1, 8))
    x = torch.randn(16, 10, 6)
    a = F.one_hot(torch.randint(0, 3, (16, 10)), 3).float()
    mask = torch.ones(16, 10, 1)
    assert _spread(sale, x) < 0.01
    opt = torch.optim.Adam(sale.parameters(), lr=1e-3)
    for _ in range(150):
        loss = sale.sequence_loss(x, a, mask, spread_coef=coef)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if coef == 0:
        assert _spread(sale, x) < 0.05
    else:
        assert _spread(sale, x) > 0.3


def test_fixed_copies_move_only_on_refresh():
    torch.manual_seed(0)
    pair = SALEPair(SALE(4, 2, embed_dim=8, hidden_dim=12))
    assert not any(p.requires_grad for p in pair.fixed.parameters())
    assert not any(p.requires_grad for p in pair.fixed_target.parameters())
    start = copy.deepcopy(pair.current.state_dict())
    opt = torch.optim.Adam(pair.current.parameters(), lr=1e-2)
    x, a = torch.randn(8, 4), torch.randn(8, 2)
    for _ in range(3):
        opt.zero_grad()
        pair.current.loss(x, a, x.flip(0), torch.ones(8, 1)).backward()
        opt.step()
    trained = copy.deepcopy(pair.current.state_dict())
    for key, value in pair.fixed.state_dict().items():
        assert torch.equal(value, start[key])
        assert not torch.equal(value, trained[key])
    pair.refresh()
    for key in start:
        assert torch.equal(pair.fixed.state_dict()[key], trained[key])
        assert torch.equal(pair.fixed_target.state_dict()[key], start[key])



def test_soft_refresh_moves_fixed_a_fraction_towards_current():
    torch.manual_seed(0)
    pair = SALEPair(SALE(4, 2, embed_dim=8, hidden_dim=12))
    with torch.no_grad():
        for p in pair.current.parameters():
            p.add_(1.0)
    before = copy.deepcopy(pair.fixed.state_dict())
    target_before = copy.deepcopy(pair.fixed_target.state_dict())
    pair.refresh(0.25)
    current = pair.current.state_dict()
    for key, value in pair.fixed.state_dict().items():
        assert torch.allclose(value, 0.75 * before[key] + 0.25 * current[key], atol=1e-6)
        assert torch.equal(pair.fixed_target.state_dict()[key], target_before[key])


@pytest.mark.parametrize("tau", [0.0, 0.1])
def test_salemb_refreshes_fixed_encoders_softly_every_update_or_hard_at_target_intervals(tau):
    from learners.salemb_learner import SALEMBLearner

    torch.manual_seed(0)
    agent = REGISTRY["sale_rnn"](7, agent_args())
    with torch.no_grad():
        for p in agent.sale.current.parameters():
            p.add_(1.0)
    learner = SimpleNamespace(has_agent_sale=True, args=SimpleNamespace(sale_refresh_tau=tau), mac=SimpleNamespace(agent=agent))
    start = copy.deepcopy(agent.sale.fixed.state_dict())
    current = agent.sale.current.state_dict()
    SALEMBLearner.after_update(learner)
    moved = {k: 0.9 * start[k] + 0.1 * current[k] for k in start} if tau else start
    assert all(torch.allclose(agent.sale.fixed.state_dict()[k], moved[k], atol=1e-6) for k in start)
    SALEMBLearner.on_target_interval(learner)
    after = current if tau == 0 else moved
    assert all(torch.allclose(agent.sale.fixed.state_dict()[k], after[k], atol=1e-6) for k in start)


def test_sale_rnn_step_by_step_equals_sequence_unroll():
    torch.manual_seed(0)
    agent = REGISTRY["sale_rnn"](7, agent_args())
    x, h0 = torch.randn(6, 9, 7), torch.randn(6, 16)
    q_seq, h_last = agent.forward_seq(x, h0)
    assert q_seq.shape == (6, 9, 5) and h_last.shape == (6, 16)
    h = h0
    for t in range(9):
        q, h = agent(x[:, t], h)
        assert torch.allclose(q, q_seq[:, t], atol=1e-5)
    assert torch.allclose(h, h_last, atol=1e-5)


@pytest.mark.parametrize("detach", [True, False])
def test_q_for_all_actions_equals_each_action_separately(detach):
    torch.manual_seed(0)
    agent = REGISTRY["sale_rnn"](7, agent_args(sale_detach=detach))
    agent.sale.current.f.l1.weight.data.add_(1.0)  # fixed and current differ, so the copy read matters
    x, h0 = torch.randn(4, 7), torch.randn(4, 16)
    q, h = agent(x, h0)
    sale = agent.sale.fixed if detach else agent.sale.current
    z_s = sale.encode_state(x)
    e_h = avg_l1_norm(agent.h_embed(h))
    e = torch.cat([e_h, z_s], -1)
    for u in range(5):
        z_sa = sale.encode_state_action(z_s, F.one_hot(torch.full((4,), u), 5).float())
        expected = agent.head_base(F.elu(agent.head_hidden(e)))[:, u] + (agent.head_query(e) * z_sa).sum(-1)
        assert torch.allclose(q[:, u], expected, atol=1e-5)


def test_q_skip_adds_the_rnn_agents_linear_head_on_h():
    torch.manual_seed(0)
    agent = REGISTRY["sale_rnn"](7, agent_args(sale_q_skip=True))
    plain = REGISTRY["sale_rnn"](7, agent_args())
    plain.load_state_dict({k: v for k, v in agent.state_dict().items() if not k.startswith("skip.")})
    x, h0 = torch.randn(4, 7), torch.randn(4, 16)
    q, h = agent(x, h0)
    q_plain, h_plain = plain(x, h0)
    assert torch.equal(h, h_plain)
    assert torch.allclose(q, q_plain + agent.skip(h), atol=1e-6)
    assert {id(p) for p in agent.skip.parameters()} <= {id(p) for p in agent.q_parameters()}


def test_sale_rnn_deepcopy_and_state_dict_roundtrip():
    torch.manual_seed(0)
    agent = REGISTRY["sale_rnn"](7, agent_args())
    target = copy.deepcopy(agent)
    agent.sale.current.f.l1.weight.data.add_(1.0)
    agent.refresh_sale()
    x, h0 = torch.randn(4, 7), torch.randn(4, 16)
    assert not torch.allclose(target(x, h0)[0], agent(x, h0)[0])
    target.load_state_dict(agent.state_dict())
    assert torch.allclose(target(x, h0)[0], agent(x, h0)[0])


def test_parameter_groups_partition_trainable_params():
    agent = REGISTRY["sale_rnn"](7, agent_args())
    sale_ids = {id(p) for p in agent.sale_parameters()}
    q_ids = {id(p) for p in agent.q_parameters()}
    trainable = {id(p) for p in agent.parameters() if p.requires_grad}
    assert sale_ids.isdisjoint(q_ids) and sale_ids | q_ids == trainable


def test_agent_sale_loss_uses_next_step_of_own_inputs():
    torch.manual_seed(0)
    agent = REGISTRY["sale_rnn"](7, agent_args())
    x = torch.randn(3, 6, 7)
    a = F.one_hot(torch.randint(0, 5, (3, 6)), 5).float()
    mask = torch.ones(3, 6, 1)
    mask[:, 4:] = 0
    loss = agent.sale_loss(x, a, mask)
    assert torch.allclose(loss, agent.sale.current.loss(x[:, :4], a[:, :4], x[:, 1:5], torch.ones(3, 4, 1)))
    loss.backward()
    assert all(p.grad is None for p in agent.q_parameters())


def _mac_and_batch():
    from components.episode_buffer import EpisodeBatch
    from components.scheme import build_scheme
    from controllers import REGISTRY as mac_REGISTRY
    from test_runners import make_args

    info = {"state_shape": 3, "obs_shape": 4, "n_actions": 3, "n_agents": 2, "episode_limit": 5}
    scheme, groups, pre = build_scheme(info)
    batch = EpisodeBatch(scheme, groups, 3, 6, preprocess=pre)
    batch.update({"obs": torch.randn(3, 6, 2, 4), "actions": torch.randint(0, 3, (3, 6, 2, 1))})
    mac = mac_REGISTRY["basic_mac"](batch.scheme, groups, make_args(agent="sale_rnn", sale_embed_dim=8, sale_hidden_dim=12))
    return mac, batch


def test_sale_rnn_is_decentralised_through_basic_mac():
    torch.manual_seed(0)
    mac, batch = _mac_and_batch()
    q = mac.unroll(batch)
    assert q.shape == (3, 6, 2, 3)
    obs = batch["obs"].clone()
    obs[:, :, 1] += torch.randn(3, 6, 4)
    batch.update({"obs": obs})
    q2 = mac.unroll(batch)
    assert torch.allclose(q[:, :, 0], q2[:, :, 0], atol=1e-6)
    assert not torch.allclose(q[:, :, 1], q2[:, :, 1])


@pytest.mark.parametrize("detach", [True, False])
def test_q_loss_reaches_current_sale_only_without_detach(detach):
    torch.manual_seed(0)
    mac, batch = _mac_and_batch()
    mac.agent.detach = detach
    mac.unroll(batch).pow(2).mean().backward()
    grads = [p.grad for p in mac.agent.sale_parameters()]
    if detach:
        assert all(g is None for g in grads)
    else:
        assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is not None for p in mac.agent.q_parameters())


@pytest.mark.parametrize("rows", [(3, 4), (40, 70)])  # below and above SMALL_BATCH_ELEMENTS: both code paths
@pytest.mark.parametrize("act", ["elu", "relu"])
def test_dot_all_actions_equals_the_explicit_per_action_embedding(act, rows):
    torch.manual_seed(0)
    g = StateActionEncoder(embed_dim=8, action_dim=5, hidden_dim=16, act=act)
    z_s, query = torch.randn(*rows, 8), torch.randn(*rows, 8)
    explicit = (g.forward_all_actions(z_s) * query.unsqueeze(-2)).sum(-1)
    assert torch.allclose(g.dot_all_actions(z_s, query), explicit, atol=1e-5)
    onehot_2 = torch.nn.functional.one_hot(torch.tensor(2), 5).float().expand(*rows, 5)
    assert torch.allclose(explicit[..., 2], (g(z_s, onehot_2) * query).sum(-1), atol=1e-5)


def test_unknown_activation_is_rejected_with_the_valid_names():
    with pytest.raises(ValueError, match=r"\['elu', 'relu'\], got 'tanh'"):
        StateEncoder(4, 8, 16, act="tanh")

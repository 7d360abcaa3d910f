"""`act_backend: numpy`: the acting step in numpy equals the torch agent's to float32 rounding, its
epsilon-greedy choice respects availability and its own seeded stream, and the switch refuses what it
cannot run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from args_helper import run_args
from components.action_selectors import EpsilonGreedyActionSelector
from components.episode_buffer import EpisodeBatch
from components.scheme import build_scheme
from controllers import REGISTRY as mac_REGISTRY
from modules.agents import REGISTRY as agent_REGISTRY
from utils.errors import ConfigError

INFO = {"state_shape": 3, "obs_shape": 6, "n_actions": 5, "n_agents": 3, "episode_limit": 8}


@pytest.mark.parametrize("layer_norm", [False, True])
def test_numpy_step_equals_the_torch_step(layer_norm):
    torch.manual_seed(0)
    agent = agent_REGISTRY["rnn"](11, SimpleNamespace(rnn_hidden_dim=32, n_actions=7, use_layer_norm=layer_norm))
    if layer_norm:  # away from LayerNorm's initial (1, 0), so that its affine part is checked too
        torch.nn.init.normal_(agent.layer_norm.weight)
        torch.nn.init.normal_(agent.layer_norm.bias)
    x, h = torch.randn(40, 11) * 3, torch.randn(40, 32)
    q_torch, h_torch = agent(x, h)
    q_np, h_np = agent.numpy_step(agent.numpy_weights(), x.numpy(), h.numpy())
    assert q_np.dtype == h_np.dtype == np.float32
    np.testing.assert_allclose(h_np, h_torch.detach().numpy(), rtol=0, atol=2e-6)
    np.testing.assert_allclose(q_np, q_torch.detach().numpy(), rtol=1e-5, atol=2e-5)


def test_numpy_weights_are_transposed_copies():
    agent = agent_REGISTRY["rnn"](4, SimpleNamespace(rnn_hidden_dim=8, n_actions=3))
    w = agent.numpy_weights()
    for name, p in agent.named_parameters():
        np.testing.assert_array_equal(w[name], p.detach().numpy().T)
        assert w[name].flags.c_contiguous and not np.shares_memory(w[name], p.detach().numpy())


def selector(epsilon: float, seed: int = 3) -> EpsilonGreedyActionSelector:
    s = EpsilonGreedyActionSelector(SimpleNamespace(epsilon_start=epsilon, epsilon_finish=epsilon, epsilon_anneal_time=10))
    s.seed(seed)
    return s


def test_numpy_choice_is_greedy_over_available_actions_at_epsilon_zero():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(64, 3, 6)).astype(np.float32)
    avail = (rng.random((64, 3, 6)) < 0.5).astype(np.int32)
    avail[..., 2] = 1
    chosen = selector(0.0).select_numpy(q, avail, t_env=0)
    expected = torch.from_numpy(q).masked_fill(torch.from_numpy(avail) == 0, -float("inf")).argmax(dim=-1).numpy()
    np.testing.assert_array_equal(chosen, expected)


def test_numpy_exploration_is_uniform_over_available_actions():
    avail = np.array([[1, 0, 1, 0, 1], [0, 0, 0, 1, 0]], dtype=np.int32)
    q = np.zeros((4000, 2, 5), dtype=np.float32)
    q[..., 0] = 1.0  # greedy: action 0 for agent 0, the only available action 3 for agent 1
    chosen = selector(1.0).select_numpy(q, np.broadcast_to(avail, q.shape), t_env=0)
    assert set(chosen[:, 1].tolist()) == {3}
    counts = np.bincount(chosen[:, 0], minlength=5)
    assert counts[1] == counts[3] == 0
    assert np.all(np.abs(counts[[0, 2, 4]] / 4000 - 1 / 3) < 0.03)


def test_numpy_stream_is_seeded_and_restored_from_its_state():
    q = np.zeros((50, 2, 4), dtype=np.float32)
    avail = np.ones((50, 2, 4), dtype=np.int32)
    a, b = selector(0.5, seed=7), selector(0.5, seed=7)
    assert np.array_equal(a.select_numpy(q, avail, 0), b.select_numpy(q, avail, 0))
    state = a.state_dict()
    after = [a.select_numpy(q, avail, 0) for _ in range(3)]
    c = selector(0.5, seed=8)
    assert not np.array_equal(c.select_numpy(q, avail, 0), after[0])
    c.load_state_dict(state)
    assert all(np.array_equal(c.select_numpy(q, avail, 0), x) for x in after)


def mac_and_batch(**kw):
    scheme, groups, pre = build_scheme(INFO)
    batch = EpisodeBatch(scheme, groups, 4, INFO["episode_limit"] + 1, preprocess=pre)
    gen = torch.Generator().manual_seed(2)
    avail = (torch.rand(4, 9, 3, 5, generator=gen) < 0.6).int()
    avail[..., 0] = 1
    batch.update({"obs": torch.randn(4, 9, 3, 6, generator=gen), "actions": torch.randint(0, 5, (4, 9, 3, 1), generator=gen),
                  "avail_actions": avail})
    args = run_args(n_agents=3, n_actions=5, rnn_hidden_dim=16, seed=1, **{"use_cuda": False, **kw})
    torch.manual_seed(0)
    return mac_REGISTRY[args.mac](batch.scheme, groups, args), batch


def test_numpy_mac_acts_as_the_torch_mac_greedily():
    torch_mac, batch = mac_and_batch(act_backend="torch", epsilon_start=0.0, epsilon_finish=0.0)
    numpy_mac, _ = mac_and_batch(act_backend="numpy", epsilon_start=0.0, epsilon_finish=0.0)
    numpy_mac.load_state(torch_mac)
    torch_mac.init_hidden(4)
    numpy_mac.init_hidden(4)
    rows = [0, 2, 3]
    for t in range(8):
        bs = slice(None) if t < 4 else rows  # a slice while all envs run, then a list of the active rows
        expected = torch_mac.select_actions(batch, t, t_env=0, bs=bs)
        got = numpy_mac.select_actions(batch, t, t_env=0, bs=bs)
        assert torch.equal(got, expected)
        torch.testing.assert_close(numpy_mac.hidden_states, torch_mac.hidden_states, rtol=0, atol=1e-5)


def test_numpy_mac_acts_with_the_weights_of_its_batch_start():
    """An update between batches (in place, as an optimiser's step) reaches the next batch's acting."""
    torch_mac, batch = mac_and_batch(act_backend="torch", epsilon_start=0.0, epsilon_finish=0.0)
    numpy_mac, _ = mac_and_batch(act_backend="numpy", epsilon_start=0.0, epsilon_finish=0.0)
    numpy_mac.load_state(torch_mac)
    numpy_mac.init_hidden(4)
    with torch.no_grad():
        for p in numpy_mac.parameters():
            p.mul_(-1.5)
    torch_mac.load_state(numpy_mac)
    torch_mac.init_hidden(4)
    numpy_mac.init_hidden(4)
    got = [numpy_mac.select_actions(batch, t, t_env=0) for t in range(8)]
    assert all(torch.equal(g, torch_mac.select_actions(batch, t, t_env=0)) for t, g in enumerate(got))


def test_numpy_acting_refuses_an_agent_without_a_numpy_step():
    with pytest.raises(ConfigError, match="agent=sale_rnn has none"):
        mac_and_batch(act_backend="numpy", agent="sale_rnn")


def test_numpy_acting_refuses_the_gpu():
    with pytest.raises(ConfigError, match="use_cuda=True"):
        mac_and_batch(act_backend="numpy", use_cuda=True)


@pytest.mark.parametrize("alg,extra", [("qmix", ["runner=parallel", "batch_size_run=2"]),
                                       ("salemb", ["imagine_start=0", "imagine_gate=False"])])
def test_training_with_numpy_acting_is_reproducible(tmp_path, alg, extra):
    """qmix (the parallel runner: a list of active rows at the batch's end) and salemb (imagination acts
    through the torch path on the same controller) train with numpy acting, and a seed gives the same run."""
    from test_learn_ahead import make_experiment, train_for

    runs = [train_for(make_experiment(tmp_path / str(i), alg, "act_backend=numpy", *extra), 12) for i in range(2)]
    (params, stats), (params_again, stats_again) = runs
    assert all(torch.equal(params[k], params_again[k]) for k in params) and stats == stats_again
    assert "loss_td" in stats and (alg == "qmix" or "loss_td_imagined" in stats)

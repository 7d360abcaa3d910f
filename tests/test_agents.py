from types import SimpleNamespace

import torch

from modules.agents import REGISTRY


def test_rnn_step_by_step_equals_sequence_unroll():
    torch.manual_seed(0)
    agent = REGISTRY["rnn"](7, SimpleNamespace(rnn_hidden_dim=16, n_actions=5))
    x = torch.randn(6, 9, 7)
    h0 = torch.randn(6, 16)
    q_seq, h_last = agent.forward_seq(x, h0)
    h = h0
    for t in range(9):
        q, h = agent(x[:, t], h)
        assert torch.allclose(q, q_seq[:, t], atol=1e-5)
    assert torch.allclose(h, h_last, atol=1e-5)
    assert q_seq.shape == (6, 9, 5)


def test_mac_per_episode_time_index_matches_fixed_step():
    from components.episode_buffer import EpisodeBatch
    from components.scheme import build_scheme
    from controllers import REGISTRY as mac_REGISTRY
    from test_runners import make_args

    torch.manual_seed(0)
    info = {"state_shape": 3, "obs_shape": 4, "n_actions": 3, "n_agents": 2, "episode_limit": 5}
    scheme, groups, pre = build_scheme(info)
    batch = EpisodeBatch(scheme, groups, 3, 6, preprocess=pre)
    batch.update({"obs": torch.randn(3, 6, 2, 4), "actions": torch.randint(0, 3, (3, 6, 2, 1))})
    mac = mac_REGISTRY["basic_mac"](batch.scheme, groups, make_args())
    t = torch.tensor([0, 2, 4])
    mac.init_hidden(3)
    per_row = mac.forward(batch, t)
    for row, step in enumerate(t.tolist()):
        mac.init_hidden(3)
        assert torch.allclose(mac.forward(batch, step)[row], per_row[row])

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

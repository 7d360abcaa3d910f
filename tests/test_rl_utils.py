import pytest
import torch

from components.epsilon_schedules import DecayThenFlatSchedule
from utils.rl_utils import build_td_lambda_targets


def lambda_return_by_hand(r, d, q, gamma, lam):
    """G_t = r_t + gamma (1 - d_t) [(1 - lam) q_{t+1} + lam G_{t+1}], G_{T-1} = q_{T-1}."""
    T = len(q)
    g = [0.0] * T
    g[T - 1] = q[T - 1]
    for t in range(T - 2, -1, -1):
        g[t] = r[t] + gamma * (1 - d[t]) * ((1 - lam) * q[t + 1] + lam * g[t + 1])
    return g[:-1]


@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_td_lambda_matches_hand_computation_without_termination(lam):
    r, q = [1.0, 0.0, 2.0, 0.5], [3.0, 1.0, -1.0, 4.0, 2.0]
    d = [0, 0, 0, 0]
    out = build_td_lambda_targets(
        torch.tensor(r).view(1, 4, 1), torch.tensor(d, dtype=torch.float).view(1, 4, 1),
        torch.ones(1, 4, 1), torch.tensor(q).view(1, 5, 1), 0.9, lam,
    )
    assert out.view(-1).tolist() == pytest.approx(lambda_return_by_hand(r, d, q, 0.9, lam))


def test_td_lambda_one_step_example_and_termination():
    # terminated at step 1; step 2 is padding. One-step targets: r0 + g q1, r1 (terminal), 0 (padding).
    r = torch.tensor([1.0, 2.0, 0.0]).view(1, 3, 1)
    d = torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1)
    mask = torch.tensor([1.0, 1.0, 0.0]).view(1, 3, 1)
    q = torch.tensor([5.0, 4.0, 7.0, 9.0]).view(1, 4, 1)
    out = build_td_lambda_targets(r, d, mask, q, 0.5, 0.0).view(-1).tolist()
    assert out == pytest.approx([1.0 + 0.5 * 4.0, 2.0, 0.0])
    lam = build_td_lambda_targets(r, d, mask, q, 0.5, 0.5).view(-1).tolist()
    # G1 = 2 (terminal); G0 = 1 + 0.5 * (0.5 * 4 + 0.5 * 2) = 2.5
    assert lam[:2] == pytest.approx([2.5, 2.0])


def test_td_lambda_per_agent_columns():
    q = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 2)
    out = build_td_lambda_targets(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), torch.ones(1, 1, 1), q, 1.0, 0.0)
    assert out.view(-1).tolist() == [3.0, 4.0]


def test_epsilon_schedule_linear_and_flat():
    s = DecayThenFlatSchedule(1.0, 0.05, 100)
    assert s.eval(0) == 1.0
    assert s.eval(50) == pytest.approx(0.525)
    assert s.eval(100) == pytest.approx(0.05)
    assert s.eval(10**6) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="linear' or 'exp'"):
        DecayThenFlatSchedule(1.0, 0.05, 100, decay="cosine")


def test_td_lambda_bootstraps_where_a_sequence_is_cut_off_early():
    # valid transitions 0..1, then padding, no termination (an imagined roll-out that ends early):
    # G1 = r1 + g q2 (bootstrap, not the padding's value), G0 = r0 + g((1-l) q1 + l G1)
    r = torch.tensor([1.0, 2.0, 0.0]).view(1, 3, 1)
    d = torch.zeros(1, 3, 1)
    mask = torch.tensor([1.0, 1.0, 0.0]).view(1, 3, 1)
    q = torch.tensor([5.0, 4.0, 7.0, 100.0]).view(1, 4, 1)
    out = build_td_lambda_targets(r, d, mask, q, 0.5, 0.5).view(-1).tolist()
    g1 = 2.0 + 0.5 * 7.0
    assert out == pytest.approx([1.0 + 0.5 * (0.5 * 4.0 + 0.5 * g1), g1, 0.0])


def _reference_targets(rewards, terminated, mask, target_qs, gamma, lam):
    """The definition, one scalar at a time."""
    B, T1, K = rewards.shape
    ret = torch.zeros(B, T1, K, dtype=torch.float64)
    for b in range(B):
        for k in range(K):
            for t in reversed(range(T1)):
                q_next = float(target_qs[b, t + 1, k])
                nxt = float(ret[b, t + 1, k]) if t + 1 < T1 and mask[b, t + 1, k] else q_next
                g = rewards[b, t, k] + gamma * (1 - terminated[b, t, k]) * ((1 - lam) * q_next + lam * nxt)
                ret[b, t, k] = float(mask[b, t, k] * g)
    return ret


def test_targets_match_the_definition_on_random_episodes():
    torch.manual_seed(3)
    B, T, K = 5, 9, 2
    lengths = torch.randint(1, T, (B,))
    mask = (torch.arange(T - 1).view(1, -1, 1) < lengths.view(-1, 1, 1)).float().expand(B, T - 1, K).clone()
    terminated = torch.zeros(B, T - 1, K)
    terminated[torch.arange(B), lengths - 1] = (torch.rand(B, 1) < 0.5).float()
    rewards, target_qs = torch.randn(B, T - 1, K) * mask, torch.randn(B, T, K)
    got = build_td_lambda_targets(rewards, terminated, mask, target_qs, 0.9, 0.6)
    assert torch.allclose(got.double(), _reference_targets(rewards, terminated, mask, target_qs, 0.9, 0.6), atol=1e-5)


def test_one_step_targets_are_the_one_step_formula_exactly():
    torch.manual_seed(4)
    B, T, K = 4, 7, 3
    mask = (torch.rand(B, T - 1, K) < 0.8).float()
    terminated = (torch.rand(B, T - 1, K) < 0.2).float()
    rewards, target_qs = torch.randn(B, T - 1, K), torch.randn(B, T, K)
    got = build_td_lambda_targets(rewards, terminated, mask, target_qs, 0.9, 0.0)
    assert torch.equal(got, mask * (rewards + 0.9 * (1 - terminated) * target_qs[:, 1:]))

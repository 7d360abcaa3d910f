import numpy as np
import pytest
import torch

from components.episode_buffer import EpisodeBatch
from components.replay_buffer import PrioritizedReplayBuffer, ReplayBuffer
from components.transforms import OneHot

SCHEME = {
    "obs": {"vshape": 3, "group": "agents"},
    "actions": {"vshape": (1,), "group": "agents", "dtype": torch.long},
    "reward": {"vshape": (1,)},
}
GROUPS = {"agents": 2}
PRE = {"actions": ("actions_onehot", [OneHot(out_dim=4)])}


def make_batch(n: int, T: int = 5, fill: int | None = None, value: float = 0.0) -> EpisodeBatch:
    b = EpisodeBatch(SCHEME, GROUPS, n, T, preprocess=PRE)
    steps = T if fill is None else fill
    for t in range(steps):
        b.update({"obs": np.full((n, 2, 3), value + t), "actions": np.full((n, 2, 1), t % 4), "reward": np.ones((n, 1))}, ts=t)
    return b


def test_shapes_filled_and_onehot():
    b = make_batch(3, T=5, fill=3)
    assert b["obs"].shape == (3, 5, 2, 3)
    assert b["actions_onehot"].shape == (3, 5, 2, 4)
    assert b["filled"][:, :, 0].tolist() == [[1, 1, 1, 0, 0]] * 3
    assert b.max_t_filled() == 3
    assert torch.equal(b["actions_onehot"][0, 2, 0], torch.tensor([0.0, 0.0, 1.0, 0.0]))
    sub = b[1:, :2]
    assert sub.batch_size == 2 and sub.max_seq_length == 2 and sub["obs"].shape == (2, 2, 2, 3)


def test_update_rejects_wrong_shape_and_unknown_key():
    b = make_batch(2)
    with pytest.raises(ValueError, match="cannot write 'obs'"):
        b.update({"obs": np.zeros((2, 7))}, ts=0)
    with pytest.raises(KeyError, match="not a field"):
        b.update({"nope": np.zeros(2)}, ts=0)


def test_replay_wraps_around_and_keeps_newest():
    buf = ReplayBuffer(SCHEME, GROUPS, 4, 5, preprocess=PRE, seed=0)
    for i in range(3):
        buf.insert_episode_batch(make_batch(2, value=10 * i))
    assert buf.episodes_in_buffer == 4
    assert buf.buffer_index == 2
    firsts = sorted(float(buf["obs"][k, 0, 0, 0]) for k in range(4))
    assert firsts == [10.0, 10.0, 20.0, 20.0]
    assert not buf.can_sample(5) and buf.can_sample(4)
    with pytest.raises(ValueError, match="cannot sample 5 episodes"):
        buf.sample(5)


def test_sample_is_distinct_and_reproducible():
    a = ReplayBuffer(SCHEME, GROUPS, 10, 5, preprocess=PRE, seed=3)
    b = ReplayBuffer(SCHEME, GROUPS, 10, 5, preprocess=PRE, seed=3)
    for buf in (a, b):
        for i in range(10):
            buf.insert_episode_batch(make_batch(1, value=i))
    ia, ib = a.sample_indices(6), b.sample_indices(6)
    assert len(set(ia.tolist())) == 6
    assert ia.tolist() == ib.tolist()


def test_buffer_state_round_trip():
    a = ReplayBuffer(SCHEME, GROUPS, 6, 5, preprocess=PRE, seed=1)
    for i in range(4):
        a.insert_episode_batch(make_batch(1, value=i))
    b = ReplayBuffer(SCHEME, GROUPS, 6, 5, preprocess=PRE, seed=99)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a["obs"], b["obs"]) and b.episodes_in_buffer == 4
    assert a.sample_indices(3).tolist() == b.sample_indices(3).tolist()


def test_per_priorities_drive_sampling_and_weights():
    buf = PrioritizedReplayBuffer(SCHEME, GROUPS, 4, 5, preprocess=PRE, seed=0, alpha=1.0, beta=0.4, t_max=100)
    buf.insert_episode_batch(make_batch(4))
    buf.update_priorities(np.arange(4), np.array([0.0, 0.0, 0.0, 9.0]))
    idx = np.concatenate([buf.sample_with_weights(4, t_env=0)[1] for _ in range(20)])
    assert (idx == 3).mean() > 0.95
    _, _, w = buf.sample_with_weights(4, t_env=0)
    assert float(w.max()) == pytest.approx(1.0)
    assert buf.beta(0) == pytest.approx(0.4) and buf.beta(100) == pytest.approx(1.0) and buf.beta(50) == pytest.approx(0.7)
    buf.insert_episode_batch(make_batch(1))
    assert buf.priorities[0] == pytest.approx(buf.max_priority)
    with pytest.raises(ValueError, match="finite and >= 0"):
        buf.update_priorities(np.array([0]), np.array([-1.0]))

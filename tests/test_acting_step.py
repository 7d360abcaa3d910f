"""Torch acting's step on the CPU: the epsilon-greedy choice in numpy on draws kept in reused tensors, and the
controller's step path on numpy views, give the actions (and leave the generator where) the torch chain does."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from components.action_selectors import EpsilonGreedyActionSelector
from test_numpy_acting import mac_and_batch


def torch_chain(q: torch.Tensor, avail: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Epsilon-greedy as torch ops: masked argmax; a uniform draw against epsilon, then multinomial."""
    greedy = q.masked_fill(avail == 0, -float("inf")).argmax(dim=-1)
    rand = torch.rand(greedy.shape)
    picked = torch.multinomial(avail.reshape(-1, avail.shape[-1]).float(), 1).view(greedy.shape)
    return torch.where(rand < epsilon, picked, greedy)


def test_choose_on_reused_draw_tensors_equals_the_torch_chain_call_after_call() -> None:
    selector = EpsilonGreedyActionSelector(SimpleNamespace(
        epsilon_start=0.4, epsilon_finish=0.4, epsilon_anneal_time=10, epsilon_decay="linear", test_noise=0.0))
    gen = torch.Generator().manual_seed(3)
    steps = []
    for rows in (8, 8, 3, 8, 8, 5):  # all envs, then fewer (new shapes), and back
        q = torch.randint(0, 3, (rows, 2, 6), generator=gen).float()
        avail = (torch.rand(rows, 2, 6, generator=gen) < 0.5).int()
        avail[..., 1] = 1
        steps.append((q, avail))
    torch.manual_seed(9)
    expected = [torch_chain(q, avail, 0.4) for q, avail in steps]
    after = torch.rand(3)
    torch.manual_seed(9)
    for i, ((q, avail), want) in enumerate(zip(steps, expected, strict=True)):
        mode = torch.inference_mode() if i % 2 else torch.no_grad()  # the buffers work in and out of inference mode
        with mode:
            got = selector.choose(q.numpy(), avail.numpy(), t_env=0)
        assert got.dtype == np.int64 and np.array_equal(got, want.numpy())
    assert torch.equal(torch.rand(3), after)


@pytest.mark.parametrize("inference", [False, True])
def test_the_cpu_step_path_acts_as_the_tensor_path(inference: bool) -> None:
    """`select_actions` at an int step (numpy views, the selector's `choose`) against the same step given
    as a per-episode LongTensor (torch indexing, `select_action`): the same actions, hidden states and draws."""
    step_mac, batch = mac_and_batch(act_backend="torch", epsilon_start=0.5, epsilon_finish=0.5)
    tensor_mac, _ = mac_and_batch(act_backend="torch", epsilon_start=0.5, epsilon_finish=0.5)
    tensor_mac.load_state(step_mac)
    results = {}
    for name, mac, as_tensor in (("step", step_mac, False), ("tensor", tensor_mac, True)):
        torch.manual_seed(4)
        mac.init_hidden(4)
        chosen = []
        with torch.inference_mode(inference):
            for t in range(8):
                bs = slice(None) if t < 4 else [0, 2, 3]  # a slice while all envs run, then a list of the active rows
                chosen.append(mac.select_actions(batch, torch.full((4,), t) if as_tensor else t, t_env=0, bs=bs))
        results[name] = (chosen, mac.hidden_states.clone(), torch.rand(2))
    (got, h_got, after_got), (want, h_want, after_want) = results["step"], results["tensor"]
    assert all(g.dtype == torch.int64 and torch.equal(g, w) for g, w in zip(got, want, strict=True))
    assert torch.equal(h_got, h_want) and torch.equal(after_got, after_want)

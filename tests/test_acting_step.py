"""Torch acting's step on the CPU: the epsilon-greedy choice in numpy on draws kept in reused tensors, and the
controller's step path on numpy views, give the actions (and leave the generator where) the torch chain does;
the agent's `acting_step` is its `forward`, bit for bit and in its gradients, taken again at each batch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from components.action_selectors import EpsilonGreedyActionSelector
from modules.agents import REGISTRY as agent_REGISTRY
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


def agent(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    args = SimpleNamespace(rnn_hidden_dim=16, n_actions=5, sale_embed_dim=8, sale_hidden_dim=12,
                           use_layer_norm=kind == "rnn_layer_norm")
    made = agent_REGISTRY["sale_rnn" if kind == "sale_rnn" else "rnn"](7, args)
    for p in made.parameters():  # away from the initial values (LayerNorm's 1 and 0 included)
        torch.nn.init.normal_(p, std=0.5)
    return made


@pytest.mark.parametrize("kind", ["rnn", "rnn_layer_norm", "sale_rnn"])
def test_acting_step_is_forward_bitwise_and_its_gradients(kind: str) -> None:
    """The step bound to the parameters gives forward's Q-values and hidden state bit for bit, in inference mode
    and with gradients on; taken under no_grad, its gradients still reach every weight forward's reach."""
    net = agent(kind)
    x, h = torch.randn(12, 7) * 3, torch.randn(12, 16)
    with torch.no_grad():
        step = net.acting_step()
    with torch.inference_mode():
        want, got = net(x, h), step(x, h)
    assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))
    grads = []
    for fn in (net, step):
        net.zero_grad()
        q, h_next = fn(x, h)
        (q.square().sum() + h_next.sum()).backward()
        grads.append({name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    assert all(torch.equal(grads[0][k], grads[1][k]) for k in grads[0])


def test_the_controller_takes_the_acting_step_again_at_each_batch() -> None:
    """A weight whose data is replaced (not updated in place) between batches reaches the next batch's acting."""
    mac, batch = mac_and_batch(act_backend="torch", epsilon_start=0.0, epsilon_finish=0.0)
    mac.init_hidden(4)
    with torch.inference_mode():
        mac.select_actions(batch, 0, t_env=0)
    fc1 = mac.agent.fc1
    fc1.weight.data = torch.randn(fc1.weight.shape) * 5
    fresh, _ = mac_and_batch(act_backend="torch", epsilon_start=0.0, epsilon_finish=0.0)
    fresh.load_state(mac)
    for m in (mac, fresh):
        m.init_hidden(4)
    with torch.inference_mode():
        got = mac.select_actions(batch, 0, t_env=0)
        want = fresh.forward(batch, 0).masked_fill(batch["avail_actions"][:, 0] == 0, -float("inf")).argmax(dim=-1)
    assert torch.equal(mac.hidden_states, fresh.hidden_states) and torch.equal(got, want)

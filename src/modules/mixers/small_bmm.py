"""`small_bmm`: torch.bmm's numbers for batches of tiny matrices, at a fraction of its CPU cost.

A QMIX mixer multiplies ~1600 tiny matrices per call (`[B*T, 1, agents] @ [B*T, agents, embed]`, then
`[B*T, 1, embed] @ [B*T, embed, 1]`). torch.bmm on the CPU takes such shapes through a scalar loop over
the batch (~300 us for the first product on a 2-agent batch of 32 episodes), and its backward through
the same loop with one-term contractions (~500 us for the hyper-network weights' gradient). Here:

- the forward sums the products over the contraction in bmm's own order, p_0 + p_1 + ... left to
  right, as broadcast multiplies and adds over the whole batch (contractions up to `ORDERED_SUM_MAX`);
- a gradient whose contraction has one term is a broadcast product: exactly bmm's, which adds the
  single product to 0 (only the sign of a zero can differ, which changes no later value);
- every other gradient is torch.bmm, as bmm's own backward computes it.

Forward values and gradients are equal to torch.bmm's (tests compare them for 1 to 27 agents).
"""

from __future__ import annotations

import torch

# Longest contraction summed as broadcast products; beyond it the Python loop costs more than bmm.
ORDERED_SUM_MAX = 16


def _ordered_sum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a `[N, I, K]` @ b `[N, K, J]` as sum_k a[:, :, k] b[:, k, :], added left to right."""
    out = a[:, :, 0:1] * b[:, 0:1, :]
    for k in range(1, a.shape[2]):
        out = out + a[:, :, k : k + 1] * b[:, k : k + 1, :]
    return out


def _product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for a gradient: a broadcast product when the contraction has one term, else torch.bmm."""
    return a * b if a.shape[2] == 1 else torch.bmm(a, b)


class _SmallBmm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        return _ordered_sum(a, b) if 1 <= a.shape[2] <= ORDERED_SUM_MAX else torch.bmm(a, b)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        a, b = ctx.saved_tensors
        grad_a = _product(grad, b.transpose(1, 2)) if ctx.needs_input_grad[0] else None
        grad_b = _product(a.transpose(1, 2), grad) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


def small_bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """torch.bmm(a, b) for a `[N, I, K]` and b `[N, K, J]`, with bmm's numbers. Off the CPU it is torch.bmm
    itself (the GPU's batched products are fast, and their rounding is their own)."""
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"small_bmm multiplies [N, I, K] by [N, K, J]; got {list(a.shape)} and {list(b.shape)}")
    if a.device.type != "cpu":
        return torch.bmm(a, b)
    return _SmallBmm.apply(a, b)

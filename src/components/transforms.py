"""Preprocessing transforms applied when data is written into an EpisodeBatch."""

from __future__ import annotations

import torch


class Transform:
    def transform(self, tensor: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def infer_output_info(self, vshape_in: tuple[int, ...], dtype_in: torch.dtype) -> tuple[tuple[int, ...], torch.dtype]:
        raise NotImplementedError


class OneHot(Transform):
    """Integer actions `[..., 1]` -> one-hot floats `[..., out_dim]`."""

    def __init__(self, out_dim: int):
        self.out_dim = out_dim

    def transform(self, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.new_zeros(*tensor.shape[:-1], self.out_dim, dtype=torch.float32)
        out.scatter_(-1, tensor.long(), 1.0)
        return out

    def infer_output_info(self, vshape_in: tuple[int, ...], dtype_in: torch.dtype) -> tuple[tuple[int, ...], torch.dtype]:
        return (self.out_dim,), torch.float32

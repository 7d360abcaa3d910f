"""Where a world model's random draws come from: torch's global generator, or one of its own.

With `wm_rng: own` the model draws from a generator seeded from the run's seed (a stream apart from the
global one's) and kept in checkpoints, so training it draws nothing from the generator acting draws
from, and salemb's update can be prepared while the runner acts (`learn_ahead`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def own_generator(seed: int | None, device: str | torch.device) -> torch.Generator:
    """A generator for the world model alone, seeded from the run's seed (a stream apart from the global one's)."""
    stream = np.random.SeedSequence(entropy=int(seed or 0), spawn_key=(1,)).generate_state(1)[0]
    generator = torch.Generator(device=device)
    generator.manual_seed(int(stream))
    return generator


class ModelRNG:
    """Mixin for world models: `self.rng` is the own generator (`wm_rng: own`) or None (global)."""

    rng: torch.Generator | None

    def init_rng(self, wm_rng: str, args: Any) -> None:
        """`wm_rng`: 'own' (a generator seeded from the run's `args.seed`, on `args.device`) or 'global'."""
        self.rng = own_generator(args.seed, args.device) if wm_rng == "own" else None

    def _noise(self, std: torch.Tensor) -> torch.Tensor:
        """Standard normal noise shaped like `std`, from the model's own generator (`wm_rng: own`) or torch's global one."""
        if self.rng is None:
            return torch.randn_like(std)
        return torch.randn(std.shape, generator=self.rng, dtype=std.dtype, device=std.device)

    def rng_state(self) -> torch.Tensor | None:
        """The own generator's state (for checkpoints), None with `wm_rng: global`."""
        return None if self.rng is None else self.rng.get_state()

    def set_rng_state(self, state: torch.Tensor | None) -> None:
        if self.rng is not None and state is not None:
            self.rng.set_state(state)

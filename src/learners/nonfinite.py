"""Catching a NaN or infinite loss, Q-value or gradient before it reaches the parameters.

Learners call `NonFiniteGuard.check` after the backward pass and before the optimiser step, with their
losses and diagnostics by name. `nan_policy`:
  stop        raise NonFiniteLossError naming the first bad value and the step; the parameters, the
              optimiser and the reward statistics are still those of the last finite update, and the
              training loop saves them as a checkpoint before it stops;
  skip_batch  drop this update (no optimiser step, no target update), warn, and count it in the
              `nonfinite_skipped_batches` metric.
"""

from __future__ import annotations

from typing import Any

import torch

from utils.errors import UserError

NAN_POLICIES = ("stop", "skip_batch")


class NonFiniteLossError(UserError):
    """A loss, Q-value or gradient norm became NaN or infinite: training diverged (or an env returned a
    non-finite reward). The fix is the user's: a lower lr, clipped or scaled rewards, a fixed env."""


def checked_values(stats: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The scalars `nan_policy` checks, in the order they are computed (so the first bad one is named): the
    scalar tensors of a learner's stats (its loss parts, Q-values and targets, each optimiser group's
    gradient norm)."""
    return {k: v for k, v in stats.items() if torch.is_tensor(v) and v.numel() == 1}


def first_nonfinite(values: dict[str, torch.Tensor]) -> tuple[str, float] | None:
    """The first of the named scalars that is NaN or infinite, with its value; None if all are finite.
    All are checked with one device synchronisation."""
    names = list(values)
    if not names:
        return None
    stacked = torch.stack([values[k].detach().float().reshape(()) for k in names])
    finite = torch.isfinite(stacked)
    if bool(finite.all()):
        return None
    i = int((~finite).nonzero()[0, 0])
    return names[i], float(stacked[i])


class NonFiniteGuard:
    def __init__(self, policy: str, logger: Any):
        if policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {policy!r}")
        self.policy = policy
        self.logger = logger
        self.skipped = 0

    def check(self, values: dict[str, torch.Tensor], t_env: int, update: int) -> bool:
        """True when every value is finite (the update may go ahead). Otherwise raise (stop) or count
        the skipped update and return False (skip_batch). `update` is the number of this learner update."""
        bad = first_nonfinite(values)
        if bad is None:
            return True
        name, value = bad
        where = f"{name} is {value} at t_env {t_env} (learner update {update})"
        if self.policy == "stop":
            raise NonFiniteLossError(
                f"{where}. The run stops; its last checkpoint holds the state before this update. Lower lr, "
                "check the env's rewards, or set nan_policy=skip_batch to skip such updates."
            )
        self.skipped += 1
        self.logger.console_logger.warning(f"{where}: update skipped (nan_policy=skip_batch; {self.skipped} skipped so far)")
        self.logger.log_stat("nonfinite_skipped_batches", self.skipped, t_env)
        return False

"""Exploration schedules, evaluated at a given env step."""

from __future__ import annotations

import math


class DecayThenFlatSchedule:
    """Anneals from `start` to `finish` over `time_length` steps (`linear` or `exp`), then stays flat."""

    def __init__(self, start: float, finish: float, time_length: int, decay: str = "linear"):
        if decay not in ("linear", "exp"):
            raise ValueError(f"epsilon decay must be 'linear' or 'exp', got '{decay}'")
        self.start = start
        self.finish = finish
        self.time_length = max(1, time_length)
        self.decay = decay
        self.delta = (start - finish) / self.time_length
        if decay == "exp":
            self.exp_scaling = -self.time_length / math.log(finish) if finish > 0 else 1.0

    def eval(self, t: int) -> float:
        if self.decay == "linear":
            return max(self.finish, self.start - self.delta * t)
        return min(self.start, max(self.finish, math.exp(-t / self.exp_scaling)))

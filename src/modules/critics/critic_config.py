"""The keys every per-agent critic reads."""

from __future__ import annotations

from dataclasses import dataclass

from utils.component_config import AT_LEAST_1, key


@dataclass(frozen=True)
class CriticConfig:
    critic_hidden_dim: int = key(256, "width of the per-agent critics", AT_LEAST_1)

"""Nested-dict helpers shared by the config loader and the env adapters (kept apart so neither imports the other)."""

from __future__ import annotations

import copy
from typing import Any


def recursive_update(d: dict[str, Any], u: dict[str, Any]) -> dict[str, Any]:
    """`d` updated by `u`, merging nested dicts (returns a new dict)."""
    out = copy.deepcopy(d)
    for k, v in u.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = recursive_update(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out

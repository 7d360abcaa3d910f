"""The task a run trains on, as named in its sacred folder (light: read by the plotting tools too)."""

from __future__ import annotations

from typing import Any


def task_name(env_args: dict[str, Any]) -> str:
    """The SMAC map, the LBF key, or the MaMuJoCo scenario with its agent partition; else 'default'."""
    for key in ("map_name", "key", "scenario"):
        if env_args.get(key):
            name = str(env_args[key])
            if key == "scenario" and env_args.get("agent_conf"):
                name += f"-{env_args['agent_conf']}"
            return name
    return "default"

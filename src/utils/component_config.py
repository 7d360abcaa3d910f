"""Config keys that a component declares itself, instead of default.yaml.

A registered class (a mixer, agent, learner, controller, critic, runner, action selector or world model)
may carry `Config`, a dataclass whose fields are its keys, each with its default, a one-line doc and a
range or a set of choices:

    @dataclass(frozen=True)
    class Config:
        qplex_heads: int = key(4, "attention heads of the advantage weights", AT_LEAST_1)

The loader adds the keys of the components a run selects (`mixer: qplex`, ...) as a layer between
default.yaml and the env and alg YAMLs, so those YAMLs and `with` overrides may set them and a run that
selects another component may not (the error says which component owns the key). The checks take a
key's type from its default, as for default.yaml's keys, and its range or choices from the field;
`python src/main.py --help` lists the keys under their component. A component reads its keys typed, with
`config_of(Config, args)`. Which components a run selects, and so which keys it has, is utils/registries.py's
business: this module imports no component, so every component may import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

Check = Callable[[Any], bool]
AT_LEAST_1: tuple[Check, str] = (lambda v: v >= 1, ">= 1")
NON_NEGATIVE: tuple[Check, str] = (lambda v: v >= 0, ">= 0")
POSITIVE: tuple[Check, str] = (lambda v: v > 0, "> 0")
UNIT_INTERVAL: tuple[Check, str] = (lambda v: 0 <= v <= 1, "in [0, 1]")

C = TypeVar("C")


def key(default: Any, doc: str, check: tuple[Check, str] | None = None, choices: tuple[Any, ...] | None = None) -> Any:
    """A `Config` field: its default, its one-line doc, and a (predicate, text) range or the valid choices."""
    return field(default=default, metadata={"doc": doc, "check": check, "choices": choices})


@dataclass(frozen=True)
class DeclaredKey:
    name: str
    default: Any
    doc: str
    check: tuple[Check, str] | None
    choices: tuple[Any, ...] | None
    owner: str  # e.g. "mixer=qplex"


def keys_of(component: Any, owner: str) -> list[DeclaredKey]:
    """The keys a registered component declares in its `Config` (none without one)."""
    config = getattr(component, "Config", None) if isinstance(component, type) else None
    if config is None:
        return []
    return [DeclaredKey(f.name, f.default, f.metadata["doc"], f.metadata["check"], f.metadata["choices"], owner)
            for f in fields(config)]


def config_of(config: type[C], args: Any) -> C:
    """The component's typed config from the run's args. A run's args hold every key of its selected
    components; a component built outside a run (a test, a script) takes a key it is not given at its
    declared default, the one place that default is written."""
    values = args if isinstance(args, dict) else vars(args)
    return config(**{f.name: values[f.name] for f in fields(config) if f.name in values})

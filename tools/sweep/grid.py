"""The sweep's grid: configs x env configs x `--set` value lists x seeds, each point one `src/main.py` run.

Every point's config is built and validated here with src/utils (the same YAML merge and checks as
src/main.py) before any run starts, so a typo in a key or a value fails the sweep at once rather than in
every run.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.config_loader import build_config
from utils.errors import ConfigError

# Keys the sweep sets itself for every run.
RESERVED = ("seed", "local_results_path", "resume")


@dataclass(frozen=True)
class RunSpec:
    """One grid point: what `src/main.py` is asked to run."""

    config: str
    env_config: str
    settings: tuple[tuple[str, str], ...]  # this point's `--set` values, as typed
    common: tuple[str, ...]  # `key=value` overrides shared by every point
    seed: int

    def overrides(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.settings] + list(self.common) + [f"seed={self.seed}"]

    @property
    def label(self) -> str:
        return " ".join([self.config, self.env_config, *(f"{k}={v}" for k, v in self.settings), f"seed={self.seed}"])

    @property
    def log_name(self) -> str:
        """A file name unique to the point (the label with path-unsafe characters replaced)."""
        return re.sub(r"[^A-Za-z0-9._=-]+", "_", self.label.replace(" ", "__")) + ".log"

    def argv(self, out: Path) -> list[str]:
        """Arguments to src/main.py for a fresh run writing under `out`."""
        return [f"--config={self.config}", f"--env-config={self.env_config}", "with", *self.overrides(), f"local_results_path={out}"]


def parse_set(text: str) -> tuple[str, list[str]]:
    """`"env_args.key=A,B"` -> `("env_args.key", ["A", "B"])`."""
    key, sep, values = text.partition("=")
    if not sep or not key or not values:
        raise ConfigError(f"--set '{text}' is not of the form key=value1,value2 (e.g. --set lr=0.001,0.0005)")
    items = values.split(",")
    if any(not v for v in items):
        raise ConfigError(f"--set '{text}' has an empty value; separate values with single commas: {key}=a,b")
    return key, items


def check_override(text: str, where: str) -> str:
    key, sep, _ = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"{where} '{text}' is not of the form key=value (e.g. t_max=200000)")
    if key in RESERVED:
        hint = "use --seeds N or --seed-list" if key == "seed" else "use --out" if key == "local_results_path" else "re-run the sweep: it resumes interrupted runs"
        raise ConfigError(f"{where} '{text}': the sweep sets {key} itself; {hint}")
    return key


def expand(
    configs: list[str],
    env_configs: list[str],
    sets: list[str],
    seeds: list[int],
    common: list[str],
) -> list[RunSpec]:
    """Every combination, seeds outermost (so the first finished runs already cover every algorithm and
    task). Raises ConfigError for malformed or conflicting keys and for repeated seeds."""
    if not configs or not env_configs or not seeds:
        raise ConfigError(f"a sweep needs at least one config, env config and seed; got configs={configs}, "
                          f"env configs={env_configs}, seeds={seeds}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds {seeds} repeat a seed; each seed runs once per grid point")
    parsed = [parse_set(s) for s in sets]
    set_keys = [k for k, _ in parsed]
    for text in sets:
        check_override(text, "--set")
    if len(set(set_keys)) != len(set_keys):
        raise ConfigError(f"--set repeats a key ({', '.join(set_keys)}); give all of a key's values in one --set k=a,b")
    for text in common:
        key = check_override(text, "override")
        if key in set_keys:
            raise ConfigError(f"'{key}' is both swept (--set) and fixed ('{text}'); give it in one place")
    combos = list(itertools.product(*[[(k, v) for v in values] for k, values in parsed]))
    return [
        RunSpec(config, env, tuple(combo), tuple(common), seed)
        for seed in seeds for env in env_configs for combo in combos for config in configs
    ]


class ConfigCache:
    """The full validated config of each grid point, as src/main.py will save it in config.json."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, str, tuple[tuple[str, str], ...], tuple[str, ...]], dict[str, Any]] = {}

    def expected(self, spec: RunSpec) -> dict[str, Any]:
        from utils.config_checks import coerce_and_validate

        key = (spec.config, spec.env_config, spec.settings, spec.common)
        if key not in self._built:
            try:
                self._built[key] = coerce_and_validate(build_config(spec.config, spec.env_config, spec.overrides()))
            except ConfigError as exc:
                raise ConfigError(f"grid point '{spec.label}': {exc}") from None
        config = copy.deepcopy(self._built[key])
        config["seed"] = spec.seed
        config["env_args"]["seed"] = spec.seed
        return config

"""Errors a user can fix. `main.py` prints their message and exits with code 1 (no traceback)."""


class UserError(Exception):
    """A mistake in the command line or config, or a missing optional dependency."""


class ConfigError(UserError):
    """A config key, value or combination that is not valid."""


class MissingDependencyError(UserError):
    """An optional package, binary or data file that the chosen setting needs is not installed."""

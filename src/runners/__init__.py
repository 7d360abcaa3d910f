"""Runner registry."""

from runners.episode_runner import EpisodeRunner
from runners.parallel_runner import ParallelRunner

REGISTRY: dict[str, type] = {"episode": EpisodeRunner, "parallel": ParallelRunner}

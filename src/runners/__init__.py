"""Runner registry."""

from runners.episode_runner import EpisodeRunner
from runners.imagination_runner import ImaginationRunner
from runners.parallel_runner import ParallelRunner

# `episode` and `parallel` step real envs; `imagination` rolls a world model (built by salemb_learner).
REGISTRY: dict[str, type] = {"episode": EpisodeRunner, "parallel": ParallelRunner, "imagination": ImaginationRunner}

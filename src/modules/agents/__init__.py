"""Agent network registry."""

from modules.agents.rnn_agent import RNNAgent

REGISTRY: dict[str, type] = {"rnn": RNNAgent}

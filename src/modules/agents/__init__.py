"""Agent network registry."""

from modules.agents.rnn_agent import RNNAgent
from modules.agents.sale_rnn_agent import SALERNNAgent

REGISTRY: dict[str, type] = {"rnn": RNNAgent, "sale_rnn": SALERNNAgent}

"""Agent network registry."""

from modules.agents.mlp_actor import MLPActor
from modules.agents.rnn_agent import RNNAgent
from modules.agents.sale_actor import SALEActor
from modules.agents.sale_rnn_agent import SALERNNAgent

# rnn, sale_rnn: Q-value agents (discrete actions); mlp_actor, sale_actor: deterministic actors (continuous).
REGISTRY: dict[str, type] = {"rnn": RNNAgent, "sale_rnn": SALERNNAgent, "mlp_actor": MLPActor, "sale_actor": SALEActor}

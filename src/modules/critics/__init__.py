"""Per-agent critic registry (continuous actions): Q_i(x_i, a_i, embeddings) -> `[...]`."""

from modules.critics.mlp_critic import MLPCritic
from modules.critics.sale_critic import SALECritic

REGISTRY: dict[str, type] = {"mlp": MLPCritic, "sale": SALECritic}

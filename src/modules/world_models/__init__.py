"""World-model registry."""

from modules.world_models.vae_world_model import VAEWorldModel

REGISTRY: dict[str, type] = {"vae": VAEWorldModel}

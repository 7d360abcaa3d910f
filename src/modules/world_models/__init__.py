"""World-model registry."""

from modules.world_models.step_vae_world_model import StepVAEWorldModel
from modules.world_models.vae_world_model import VAEWorldModel

REGISTRY: dict[str, type] = {"vae": VAEWorldModel, "step_vae": StepVAEWorldModel}

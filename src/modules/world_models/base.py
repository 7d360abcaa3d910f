"""What every world model (`vae`, `step_vae`) shares: the keys it reads (each adds its own in its
`Config`) and the settings they give it."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from modules.world_models.model_rng import ModelRNG
from utils.component_config import AT_LEAST_1, NON_NEGATIVE, UNIT_INTERVAL, key


@dataclass(frozen=True)
class WorldModelConfig:
    wm_hidden_dim: int = key(128, 'hidden width of every world-model MLP', AT_LEAST_1)
    wm_activation: str = key('elu', "world-model MLPs' activation: elu (Dreamer) or relu", choices=('elu', 'relu'))
    wm_latent_dim: int = key(32, 'stochastic latent size', AT_LEAST_1)
    wm_sale_dim: int = key(64, 'joint SALE embedding size inside the transition', AT_LEAST_1)
    wm_use_sale: bool = key(True, 'False: the transition reads a plain action embedding (salemb_no_wm_sale)')
    wm_kl_alpha: float = key(0.8, 'KL balancing: weight of the prior-side term', UNIT_INTERVAL)
    wm_free_nats: float = key(1.0, 'KL below this (per step) is not penalised', NON_NEGATIVE)
    wm_kl_beta: float = key(1.0, 'weight of the balanced KL', NON_NEGATIVE)
    wm_sale_coef: float = key(1.0, 'weight of the latent SALE prediction loss')
    wm_reward_coef: float = key(1.0, 'weight of the reward prediction loss')
    wm_term_coef: float = key(1.0, 'weight of the termination prediction loss')
    wm_avail_coef: float = key(1.0, 'weight of the available-action prediction loss')
    wm_rng: str = key('global', "the world model's samples: from torch's global generator, or 'own' (its own, seeded from the run's seed; lets learn_ahead prepare salemb's update beside acting)", choices=('global', 'own'))


class WorldModelBase(ModelRNG, nn.Module):
    """The sizes and loss weights from the shared keys; a subclass builds its networks after this
    `__init__` (which creates no parameter, so it draws nothing from the generator)."""

    def __init__(self, state_dim: int, obs_dim: int, n_agents: int, n_actions: int, cfg: WorldModelConfig):
        super().__init__()
        self.state_dim = state_dim
        self.obs_dim = obs_dim
        self.n_agents = n_agents
        self.n_actions = n_actions
        self.latent_dim = cfg.wm_latent_dim
        self.sale_dim = cfg.wm_sale_dim
        self.use_sale = cfg.wm_use_sale
        self.kl_alpha = cfg.wm_kl_alpha
        self.free_nats = cfg.wm_free_nats
        self.kl_beta = cfg.wm_kl_beta
        self.sale_coef = cfg.wm_sale_coef
        self.reward_coef = cfg.wm_reward_coef
        self.term_coef = cfg.wm_term_coef
        self.avail_coef = cfg.wm_avail_coef

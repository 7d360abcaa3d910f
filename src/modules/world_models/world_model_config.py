"""The keys every world model reads (`vae`, `step_vae`); each adds its own in its `Config`."""

from __future__ import annotations

from dataclasses import dataclass

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

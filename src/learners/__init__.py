"""Learner registry."""

from learners.actor_critic_learner import ActorCriticLearner
from learners.q_learner import QLearner
from learners.salemb_continuous_learner import SALEMBContinuousLearner
from learners.salemb_learner import SALEMBLearner

REGISTRY: dict[str, type] = {
    "q_learner": QLearner,
    "salemb_learner": SALEMBLearner,
    "facmac_learner": ActorCriticLearner,
    "salemb_continuous_learner": SALEMBContinuousLearner,
}

# Learners for continuous (Box) actions; the others pick actions by an argmax over discrete Q-values.
CONTINUOUS_ACTIONS: set[str] = {"facmac_learner", "salemb_continuous_learner"}

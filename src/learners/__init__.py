"""Learner registry."""

from learners.q_learner import QLearner
from learners.salemb_learner import SALEMBLearner

REGISTRY: dict[str, type] = {"q_learner": QLearner, "salemb_learner": SALEMBLearner}

"""Learner registry."""

from learners.q_learner import QLearner

REGISTRY: dict[str, type] = {"q_learner": QLearner}

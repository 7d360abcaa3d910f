"""Mixer registry. `mixer: null` in a config means no mixer (independent Q-learning)."""

from modules.mixers.qmix import QMixer
from modules.mixers.qplex import QPLEXMixer
from modules.mixers.vdn import VDNMixer

REGISTRY: dict[str, type] = {"qmix": QMixer, "vdn": VDNMixer, "qplex": QPLEXMixer}

"""Multi-agent controller registry."""

from controllers.actor_controller import ActorMAC
from controllers.basic_controller import BasicMAC

REGISTRY: dict[str, type] = {"basic_mac": BasicMAC, "actor_mac": ActorMAC}

# Controllers that act with continuous (Box) actions.
CONTINUOUS_ACTIONS: set[str] = {"actor_mac"}

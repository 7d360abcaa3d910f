"""Multi-agent controller registry."""

from controllers.basic_controller import BasicMAC

REGISTRY: dict[str, type] = {"basic_mac": BasicMAC}

"""The city's signal-controlled road network: junctions, approaches, movements and phases."""

from graph.errors import DetectorRegistryError, GraphError, NetworkSourceError, UnknownJunction
from graph.model import Approach, Junction, Link, Movement, Network, Phase, TurnType

__all__ = [
    "Approach",
    "DetectorRegistryError",
    "GraphError",
    "Junction",
    "Link",
    "Movement",
    "Network",
    "NetworkSourceError",
    "Phase",
    "TurnType",
    "UnknownJunction",
]

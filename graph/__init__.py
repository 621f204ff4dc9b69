"""The city's signal-controlled road network: junctions, approaches, movements and phases."""

from graph.errors import DetectorRegistryError, GraphError, NetworkSourceError, UnknownJunction
from graph.model import Approach, Junction, Link, Movement, Network, Phase, TurnType
from graph.registry import DetectorRegistry, DetectorSite, UnmappedDetector, load_registry

__all__ = [
    "Approach",
    "DetectorRegistry",
    "DetectorRegistryError",
    "DetectorSite",
    "GraphError",
    "Junction",
    "Link",
    "Movement",
    "Network",
    "NetworkSourceError",
    "Phase",
    "TurnType",
    "UnknownJunction",
    "UnmappedDetector",
    "load_registry",
]

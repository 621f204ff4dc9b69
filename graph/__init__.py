"""The city's signal-controlled road network: junctions, approaches, movements and phases."""

from graph.conflicts import ConflictTable
from graph.errors import DetectorRegistryError, GraphError, NetworkSourceError, UnknownJunction
from graph.model import Approach, Exit, Junction, Link, Movement, Network, Phase, TurnType
from graph.osm import load_network
from graph.registry import DetectorRegistry, DetectorSite, UnmappedDetector, load_registry
from graph.settings import BuildSettings
from graph.zones import assign_zones

__all__ = [
    "Approach",
    "BuildSettings",
    "ConflictTable",
    "DetectorRegistry",
    "DetectorRegistryError",
    "DetectorSite",
    "Exit",
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
    "assign_zones",
    "load_network",
    "load_registry",
]

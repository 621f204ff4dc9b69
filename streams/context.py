"""What the pipeline needs to know about the city, prepared at start-up by the composition root."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graph.model import Junction, Network
from optimizer.strategy import Planner, ZonePlanner
from streams.diversion_board import DiversionBoard
from streams.kafka import KafkaConnection
from streams.metrics import Metrics
from streams.planning import PlanningConfig, SiteRef
from streams.progress import OffsetProgress
from streams.topics import TopicNames

if TYPE_CHECKING:  # the routable graph imports osmnx: only the rerouting stage needs it
    from streams.rerouting import RerouteSetup


@dataclass(frozen=True, slots=True)
class DetectorIndex:
    """Detector id -> zone, and the detector sites of each zone."""

    zone_of: dict[str, str]
    sites_by_zone: dict[str, tuple[SiteRef, ...]]

    @classmethod
    def build(
        cls,
        network: Network,
        sites: Iterable[tuple[str, str, str, int]],
        lane_ids: Mapping[str, tuple[str, ...]] | None = None,
    ) -> DetectorIndex:
        """From (detector id, junction id, approach id, lanes) rows of ``network``'s junctions;
        ``lane_ids``: the model lanes of the detectors the registry places on lanes."""
        zone_of_junction = {j.id: j.zone_id for j in network.junctions}
        zone_of: dict[str, str] = {}
        by_zone: dict[str, list[SiteRef]] = {}
        for det, junction_id, approach_id, lanes in sites:
            zone = zone_of_junction[junction_id]
            ref = SiteRef(det, approach_id, lanes, (lane_ids or {}).get(det, ()))
            zone_of[det] = zone
            by_zone.setdefault(zone, []).append(ref)
        return cls(zone_of, {z: tuple(v) for z, v in by_zone.items()})


@dataclass(frozen=True, slots=True)
class StreamsConfig:
    """Connection and processing parameters of the Faust app (mapped from the settings object)."""

    app_id: str
    kafka: KafkaConnection
    partitions: int
    replication_factor: int
    state_dir: str
    ingest_batch: int
    ingest_within_s: float
    lateness_s: int
    session_timeout_s: float
    web_port: int = 0
    event_time_max_ahead_s: int = 900
    """How far ahead of the worker's clock a reading's interval end may lie."""
    event_time_max_behind_s: int = 7 * 86_400
    """How far behind the worker's clock a reading's interval end may lie."""
    event_time_replay: bool = False
    """Accept readings of any date (replays of recorded feeds, the twin's simulated time)."""
    shutdown_timeout_s: float = 10.0
    """Most a worker takes to stop on SIGTERM, whatever the broker's state."""
    planning_processes: int = 0
    """Processes that compute plans beside the worker's event loop (0: in the worker's thread)."""


@dataclass(frozen=True, slots=True)
class PipelineContext:
    """Everything the agents use, immutable once the worker starts."""

    network: Network
    detectors: DetectorIndex
    planning: PlanningConfig
    planner: Planner
    metrics: Metrics
    topics: TopicNames
    registry_source: str = ""
    junctions_by_zone: dict[str, tuple[Junction, ...]] = field(default_factory=dict)
    controller: str = ""
    """Registered live controller of the control stage (``adaptive``…); empty: stage off."""
    zone_planner: ZonePlanner | None = None
    """When set, the zone stage plans each zone's junctions together with it (common cycle,
    offsets); ``planner`` is then unused by the zone stage."""
    commune: str = ""
    """The commune (tenant) this worker plans for: on every plan and inputs record."""
    progress: OffsetProgress = field(default_factory=OffsetProgress)
    """The ingest stage's handled and committed offsets (logged if a stop times out)."""

    reroute: RerouteSetup | None = None
    """The rerouting stage's city and settings; ``None``: no rerouting stage."""
    diversions: DiversionBoard | None = None
    """Advice in force, whose diverted flow the zone stage adds to measured demand."""

    @classmethod
    def create(
        cls,
        network: Network,
        detectors: DetectorIndex,
        planning: PlanningConfig,
        planner: Planner,
        metrics: Metrics,
        topics: TopicNames,
        registry_source: str = "",
        controller: str = "",
        zone_planner: ZonePlanner | None = None,
        commune: str = "",
        reroute: RerouteSetup | None = None,
    ) -> PipelineContext:
        """Build the context and its per-zone junction index."""
        return cls(
            network,
            detectors,
            planning,
            planner,
            metrics,
            topics,
            registry_source,
            network.zones(),
            controller,
            zone_planner,
            commune,
            reroute=reroute,
            diversions=DiversionBoard() if reroute is not None else None,
        )

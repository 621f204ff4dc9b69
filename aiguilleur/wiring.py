"""The composition root: the only place that knows every package and wires them together."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

import optimizer.strategy as strategies
from aiguilleur.settings import Settings
from graph.errors import NetworkSourceError
from graph.model import Network
from streams.context import DetectorIndex, PipelineContext, StreamsConfig
from streams.guarding import guardrail_config
from streams.kafka import KafkaConnection
from streams.metrics import Metrics, create_metrics
from streams.planning import PlanningConfig
from streams.topics import TopicNames

if TYPE_CHECKING:  # the rerouting modules import the routable graph's libraries: load on use
    from streams.rerouting import RerouteConfig, RerouteSetup

log = logging.getLogger("aiguilleur")


def load_network(path: Path, cache_dir: Path | None = None) -> Network:
    """A network from a built ``.json`` model, an OSM extract or a SUMO ``.net.xml``."""
    if not path.exists():
        raise NetworkSourceError(
            str(path),
            "file not found",
            "set AIGUILLEUR_NETWORK_FILE to an OSM extract or a built network .json",
        )
    if path.suffix == ".json":
        try:
            network: Network = msgspec.json.decode(path.read_bytes(), type=Network)
        except msgspec.DecodeError as e:
            raise NetworkSourceError(
                str(path), f"not a network model: {e}", "build one with `aiguilleur graph build`"
            ) from e
        return network
    if path.name.endswith(".net.xml") or path.name.endswith(".net.xml.gz"):
        from graph.sumo import network_from_sumo

        return network_from_sumo(path).network
    from graph.osm import load_network as load_osm

    return load_osm(path, cache_dir=cache_dir)


def detector_rows(path: Path, network: Network) -> tuple[list[tuple[str, str, str, int]], int]:
    """Registry rows (detector, junction, approach, lanes) and the number of unmapped detectors."""
    rows, _, unmapped = detector_sites(path, network)
    return rows, unmapped


def detector_sites(
    path: Path, network: Network
) -> tuple[list[tuple[str, str, str, int]], dict[str, tuple[str, ...]], int]:
    """Registry rows (detector, junction, approach, lanes), the model lanes of the detectors
    placed on lanes, and the number of unmapped detectors."""
    from graph.registry import load_registry

    registry = load_registry(path, network)
    for u in registry.unmapped:
        log.warning("event=detector_unmapped detail=%r", u)
    rows = [(s.detector_id, s.junction_id, s.approach_id, s.lanes) for s in registry.sites()]
    lanes = {s.detector_id: s.lane_ids for s in registry.sites() if s.lane_ids}
    return rows, lanes, len(registry.unmapped)


def planning_config(settings: Settings) -> PlanningConfig:
    """Planning parameters from the settings."""
    return PlanningConfig(
        period_s=settings.control_period_s,
        window_s=settings.effective_window_s,
        cycle_min_s=settings.cycle_min_s,
        cycle_max_s=settings.cycle_max_s,
        pedestrian_flow_pph=settings.pedestrian_flow_pph,
        recent_window_s=settings.recent_window_s,
        guardrails=guardrail_config(
            settings.guardrail_max_cycle_step_s, settings.guardrail_max_green_step_s
        ),
    )


def kafka_connection(settings: Settings) -> KafkaConnection:
    """Where the cluster is and how to reach it: every Kafka client of the process uses this."""
    password = settings.kafka_sasl_password
    return KafkaConnection(
        bootstrap=settings.kafka_bootstrap,
        sasl_username=settings.kafka_sasl_username,
        sasl_password=password.get_secret_value() if password is not None else None,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        ssl_cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
    )


def kafka_env(settings: Settings) -> dict[str, str]:
    """The ``AIGUILLEUR_KAFKA_*`` variables of ``settings``, for a child process (a worker) that
    must reach the same cluster the same way."""
    env = {
        "AIGUILLEUR_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "AIGUILLEUR_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
    }
    if settings.kafka_sasl_username and settings.kafka_sasl_password is not None:
        env["AIGUILLEUR_KAFKA_SASL_USERNAME"] = settings.kafka_sasl_username
        env["AIGUILLEUR_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_cafile is not None:
        env["AIGUILLEUR_KAFKA_SSL_CAFILE"] = str(settings.kafka_ssl_cafile)
    return env


def streams_config(settings: Settings) -> StreamsConfig:
    """Faust app parameters from the settings."""
    return StreamsConfig(
        app_id=settings.app_id,
        kafka=kafka_connection(settings),
        partitions=settings.partitions,
        replication_factor=settings.replication_factor,
        state_dir=str(settings.state_dir),
        ingest_batch=settings.ingest_batch,
        ingest_within_s=settings.ingest_within_s,
        lateness_s=settings.lateness_s,
        session_timeout_s=settings.session_timeout_s,
        web_port=settings.web_port,
        event_time_max_ahead_s=settings.event_time_max_ahead_s,
        event_time_max_behind_s=settings.event_time_max_behind_s,
        event_time_replay=settings.event_time_replay,
        shutdown_timeout_s=settings.shutdown_timeout_s,
        planning_processes=settings.planning_processes,
    )


def pipeline_context(settings: Settings, metrics: Metrics | None = None) -> PipelineContext:
    """Load the network and registry and prepare what the agents need."""
    network = load_network(settings.network_file, settings.cache_dir)
    rows, lanes, unmapped = detector_sites(settings.detector_registry, network)
    log.info(
        "event=network_loaded source=%s junctions=%d zones=%d detectors=%d unmapped=%d",
        settings.network_file,
        len(network.junctions),
        len(network.zones()),
        len(rows),
        unmapped,
    )
    # Importing the package registers every planner and controller it offers.
    import optimizer  # noqa: F401

    if settings.controller and settings.controller not in strategies.controllers():
        raise ValueError(
            f"AIGUILLEUR_CONTROLLER={settings.controller!r} is not a registered controller; "
            f"known: {', '.join(strategies.controllers())} (empty: no control stage)"
        )

    planner_name, zone_planner = planners_for(settings.planner)
    reroute = reroute_setup(settings, network, rows) if settings.reroute else None
    return PipelineContext.create(
        network=network,
        detectors=DetectorIndex.build(network, rows, lanes),
        planning=planning_config(settings),
        planner=strategies.planner(planner_name),
        metrics=metrics or create_metrics(),
        topics=TopicNames(settings.topic_namespace),
        registry_source=str(settings.detector_registry),
        controller=settings.controller,
        zone_planner=zone_planner,
        commune=settings.effective_commune,
        reroute=reroute,
    )


def routing_source(settings: Settings) -> Path:
    """The file of the routable graph: AIGUILLEUR_ROUTING_FILE, else the network file when it is
    an OSM extract or a SUMO net."""
    path = settings.routing_file or settings.network_file
    if path.suffix == ".json":
        raise NetworkSourceError(
            str(path),
            "a built network model has no routable graph",
            "set AIGUILLEUR_ROUTING_FILE to the OSM extract (or SUMO net) it was built from",
        )
    return path


def reroute_config(settings: Settings) -> RerouteConfig:
    """Rerouting parameters from the settings."""
    from graph.diversions import DiversionPolicy
    from streams.rerouting import RerouteConfig

    excluded = () if settings.reroute_allow_residential else DiversionPolicy().excluded_classes
    return RerouteConfig(
        policy=DiversionPolicy(
            max_alternatives=settings.reroute_max_alternatives,
            excluded_classes=excluded,
            max_upstream_m=settings.reroute_max_upstream_m,
            navigation_partners=settings.reroute_navigation_partners,
        ),
        compliance=settings.reroute_compliance,
        validity_s=settings.reroute_validity_s,
        assumed_load=settings.reroute_assumed_load,
    )


def reroute_setup(
    settings: Settings, network: Network, rows: list[tuple[str, str, str, int]]
) -> RerouteSetup:
    """The routable graph, the signs and the detectors' links for the rerouting stage."""
    from graph.routing import build_routable_graph
    from graph.routing_sumo import routable_from_sumo
    from graph.signs import load_signs
    from streams.reroute_stage import detector_edges
    from streams.rerouting import RerouteContext, RerouteSetup

    source = routing_source(settings)
    if source.name.endswith((".net.xml", ".net.xml.gz")):
        rg = routable_from_sumo(source)
    else:
        rg = build_routable_graph(source)
    signs: dict[int, str] = {}
    if settings.sign_registry is not None:
        registry = load_signs(settings.sign_registry, rg)
        for sign, line, reason in registry.unmapped:
            log.warning("event=sign_unmapped sign=%s line=%d reason=%r", sign, line, reason)
        signs = registry.by_node
    context = RerouteContext.build(rg, network, signs)
    detector_edge = detector_edges(context, rows)
    log.info(
        "event=routable_graph source=%s nodes=%d edges=%d signs=%d measured_links=%d",
        source,
        rg.graph.number_of_nodes(),
        rg.graph.number_of_edges(),
        len(signs),
        len(set(detector_edge.values())),
    )
    return RerouteSetup(context, reroute_config(settings), detector_edge)


ZONE_FALLBACK_PLANNER = "optimizer"
"""Per-junction planner kept in the context when a zone planner is chosen (the zone stage does not
use it; the coordinated planner declines to the same isolated optimiser)."""


def planners_for(name: str) -> tuple[str, strategies.ZonePlanner | None]:
    """The per-junction planner name and the zone planner (or ``None``) for AIGUILLEUR_PLANNER.

    A zone planner name (``coordinated``) plans each zone's junctions together; any other name must
    be a registered per-junction planner.
    """
    import optimizer  # noqa: F401  # registers every planner the package offers

    if name in strategies.zone_planners():
        return ZONE_FALLBACK_PLANNER, strategies.zone_planner(name)
    if name in strategies.planners():
        return name, None
    raise ValueError(
        f"AIGUILLEUR_PLANNER={name!r} is not a registered planner; known: "
        f"{', '.join(strategies.planners())} (one junction at a time), "
        f"{', '.join(strategies.zone_planners())} (a zone together)"
    )

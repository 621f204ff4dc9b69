"""Zones and coordination links of a SUMO scenario, for a zone planner.

Junctions are grouped by :func:`graph.zones.assign_zones` (the pipeline's rule) over the road links
:mod:`graph.sumo_links` finds. Each road link becomes one :class:`optimizer.coordination.Link`
per upstream phase that sends measured traffic onto its first edge (the main road's through phase,
and a side road turning in, each a platoon of its own, weighed by its flow), received by the
downstream phase that serves the most traffic from its last edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graph.model import Junction
from graph.model import Link as GraphLink
from graph.sumo import SumoSignal
from graph.sumo_links import SumoLink
from graph.zones import assign_zones
from optimizer.coordination import Link, ZoneDemand
from optimizer.model import JunctionDemand, LaneGroup


def zones_of(junctions: Sequence[Junction], links: Sequence[SumoLink]) -> dict[str, list[str]]:
    """Zone id -> junction ids (sorted), by the pipeline's zoning rule."""
    ids = [j.id for j in junctions]
    graph_links = [
        GraphLink(
            from_junction=lk.from_junction,
            to_junction=lk.to_junction,
            length_m=lk.length_m,
            travel_time_s=lk.travel_time_s,
        )
        for lk in links
    ]
    out: dict[str, list[str]] = {}
    for jid, zone in sorted(assign_zones(ids, graph_links).items()):
        out.setdefault(zone, []).append(jid)
    return out


def _phase_flows(
    junction: Junction,
    critical: list[list[int]],
    flows: Mapping[int, float],
    links: list[int],
) -> dict[int, float]:
    """Model phase index -> flow of its critical links among ``links`` (phases with some)."""
    out: dict[int, float] = {}
    for k, crit in enumerate(critical):
        mine = [i for i in crit if i in links]
        if mine:
            out[junction.phases[k].index] = sum(flows.get(i, 0.0) for i in mine)
    return out


def _flow(group: LaneGroup | None) -> float:
    if group is None:
        return 0.0
    return group.recent_flow_vph if group.recent_flow_vph is not None else group.flow_vph


def zone_demand(
    zone_id: str,
    demands: Mapping[str, JunctionDemand],
    junctions: Mapping[str, Junction],
    signals: Mapping[str, SumoSignal],
    critical: Mapping[str, list[list[int]]],
    flows: Mapping[str, Mapping[int, float]],
    links: Sequence[SumoLink],
    period_s: float,
) -> ZoneDemand:
    """The zone's :class:`ZoneDemand`: its junctions' demands and the links inside it.

    ``flows`` are vehicles per signal link index over ``period_s``, per junction.
    """
    members = sorted(demands)
    inside = set(members)
    out: list[Link] = []
    for lk in links:
        if lk.from_junction not in inside or lk.to_junction not in inside:
            continue
        up, down = signals[lk.from_junction], signals[lk.to_junction]
        onto = [
            i for i, m in enumerate(up.link_movements) if m and m.split(">", 1)[1] == lk.first_edge
        ]
        off = [
            i for i, m in enumerate(down.link_movements) if m and m.split(">", 1)[0] == lk.last_edge
        ]
        released = _phase_flows(
            junctions[lk.from_junction], critical[lk.from_junction], flows[lk.from_junction], onto
        )
        received = _phase_flows(
            junctions[lk.to_junction], critical[lk.to_junction], flows[lk.to_junction], off
        )
        if not received:
            continue
        to_phase = max(received, key=lambda k: (received[k], -k))
        to_group = next(
            (
                lg
                for ph in demands[lk.to_junction].phases
                if ph.index == to_phase
                for lg in ph.lane_groups
                if lg.id == f"{to_phase}:{lk.last_edge}"
            ),
            None,
        )
        for from_phase, flow in sorted(released.items()):
            if flow <= 0:
                continue
            out.append(
                Link(
                    from_junction=lk.from_junction,
                    to_junction=lk.to_junction,
                    travel_time_s=lk.travel_time_s,
                    from_phase=from_phase,
                    to_phase=to_phase,
                    flow_vph=flow * 3600.0 / period_s,
                    to_flow_vph=_flow(to_group),
                    to_saturation_flow_vph=to_group.saturation_flow_vph if to_group else 0.0,
                )
            )
    return ZoneDemand(
        zone_id=zone_id, junctions=tuple(demands[j] for j in members), links=tuple(out)
    )

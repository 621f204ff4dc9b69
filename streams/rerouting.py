"""From an incident to reroute-advice events.

Where advice can act and the ways around come from the routable graph (``graph.diversions``);
the share of flow each way can take within capacity from OR-Tools (``optimizer.diversion``);
link flows and times from the detectors (``optimizer.link_state``). Each decision point with flow
to send gets one :class:`~streams.events.RerouteAdvice`; an incident nothing can be advised for
gets one ``no_diversion`` advice saying why.

Pure: the graph, the incident, the link states, the other incidents and the time come in; events
go out.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from graph.diversions import (
    Alternative,
    Candidates,
    DecisionPoint,
    DiversionPolicy,
    find_candidates,
    quickest_way_around,
    road_class,
    stretch_of,
)
from graph.model import Network
from graph.routing import EdgeKey, RoutableGraph
from optimizer.diversion import (
    DiversionAllocation,
    DiversionArc,
    DiversionRequest,
    PathFlow,
    allocate,
)
from optimizer.link_state import BprParams, LinkState, bpr_time_s
from streams._advice_text import (
    AdviceText,
    names_along,
    no_diversion_texts,
    place_name,
    texts,
)
from streams.events import (
    AdviceExplanation,
    AdviceLink,
    AdvicePoint,
    AdvisedAlternative,
    Incident,
    RerouteAdvice,
)
from streams.planning import MODEL_VERSION

DISCOVERY_M = 25.0
"""Drivers see a closure this far ahead: without advice they turn at the last intersection
within this distance of it (a node of a SUMO net a metre before a junction is not where a driver
decides)."""
DETOUR_CUTOFF_S = 3600.0
"""Farthest (free-flow seconds) the quickest way around a closure is searched."""
METHOD = "min-cost flow (MathOpt GLOP), BPR marginal costs, penalty-method alternatives"
OBJECTIVE = "least total travel time of the diverted flow, no link past its capacity"


@dataclass(frozen=True, slots=True)
class RerouteConfig:
    """Rerouting parameters the inputs digest covers (``AIGUILLEUR_REROUTE_*``)."""

    policy: DiversionPolicy = field(default_factory=DiversionPolicy)
    compliance: float = 0.3
    """Share of drivers assumed to follow the advice (expected effects and signal plans)."""
    validity_s: int = 1800
    """An advice stands this long at most; a later one replaces it."""
    assumed_load: float = 0.5
    """Flow over capacity assumed on links no detector measures."""
    bpr: BprParams = field(default_factory=BprParams)
    time_limit_s: float = 1.0
    pieces: int = 6
    unserved_cost_s: float = 1800.0
    """What a vehicle no way around can take is counted as losing (it queues or finds its own
    way): high enough that any path within capacity is preferred."""


@dataclass(frozen=True, slots=True)
class RerouteContext:
    """What advice needs of the city, prepared once."""

    rg: RoutableGraph
    signs: Mapping[int, str] = field(default_factory=dict)
    approach_at: Mapping[tuple[int, int], str] = field(default_factory=dict)
    """(OSM node before the junction, junction node) -> approach id of the network model."""
    approach_edge: Mapping[str, EdgeKey] = field(default_factory=dict)
    """Approach id -> the routable edge it ends with (where its detectors measure)."""

    @classmethod
    def build(
        cls,
        rg: RoutableGraph,
        network: Network | None = None,
        signs: Mapping[int, str] | None = None,
    ) -> RerouteContext:
        """With the approaches of ``network``'s signalised junctions indexed by their last
        segment, so advice can name the approaches a diversion enters."""
        pairs: dict[tuple[int, int], str] = {}
        edges: dict[str, EdgeKey] = {}
        for j in network.junctions if network is not None else ():
            for a in j.approaches:
                if len(a.node_ids) < 2:
                    continue
                before, at = int(a.node_ids[-2]), int(a.node_ids[-1])
                pairs[(before, at)] = a.id
                if a.osm_way_id is not None:
                    with contextlib.suppress(KeyError):
                        edges[a.id] = rg.edge_on_way(a.osm_way_id, before, at)
        return cls(rg, dict(signs or {}), pairs, edges)


@dataclass(frozen=True, slots=True)
class RerouteSetup:
    """What the rerouting stage needs, prepared by the composition root."""

    context: RerouteContext
    config: RerouteConfig
    detector_edge: Mapping[str, EdgeKey]
    """Detector id -> the routable edge it measures."""


@dataclass(frozen=True, slots=True)
class _Flows:
    """Flow on the affected link and the background of every arc of the model."""

    flow_vph: float
    source: str
    arcs: dict[EdgeKey, DiversionArc]
    mainline: tuple[EdgeKey, ...]
    """From the farthest decision point to the end of the affected stretch (included)."""
    stretch: int
    """How many edges at the end of ``mainline`` are the affected stretch."""
    compliant_vph: float
    """The flow assumed to follow the advice: what the allocation shares out."""


def link_flow(
    rg: RoutableGraph, edge: EdgeKey, states: Mapping[EdgeKey, LinkState], cfg: RerouteConfig
) -> tuple[float, bool]:
    """Flow on an edge: measured when a state says, else the assumed load; and whether
    measured."""
    state = states.get(edge)
    if state is not None:
        return state.flow_vph, True
    return cfg.assumed_load * float(rg.data(edge)["capacity_vph"]), False


def _flows(
    rg: RoutableGraph,
    incident: Incident,
    cand: Candidates,
    states: Mapping[EdgeKey, LinkState],
    others: Mapping[EdgeKey, float],
    detour: Collection[EdgeKey],
    cfg: RerouteConfig,
) -> _Flows:
    """The model's arcs. Drivers who do not follow the advice stay on the road to the incident
    and, at a closure, take the quickest way around from there (``detour``): their flow is
    background on those links, so the advice does not send its drivers into theirs."""
    stretch = cand.affected
    measured, is_measured = link_flow(rg, stretch[0], states, cfg)
    if incident.flow_vph is not None:
        flow, source = incident.flow_vph, "declared"
    else:
        flow, source = measured, ("measured" if is_measured else "assumed")
    far = cand.decision_points[0].node
    start = next((i for i, e in enumerate(cand.upstream) if e[0] == far), len(cand.upstream))
    mainline = (*cand.upstream[start:], *stretch)
    edges = dict.fromkeys([*mainline, *(e for a in cand.alternatives for e in a.edges)])
    arcs = {}
    for e in edges:
        d = rg.data(e)
        on_link, _ = link_flow(rg, e, states, cfg)
        capacity = float(d["capacity_vph"]) * others.get(e, 1.0)
        if e in stretch:
            capacity *= incident.capacity_factor
        if e in mainline:
            background = max(0.0, on_link - cfg.compliance * flow)
        else:
            background = on_link + (1.0 - cfg.compliance) * flow * (e in detour)
        state = states.get(e)
        if state is not None and state.congested and e not in mainline:
            capacity = min(capacity, background)  # never send more onto a jam
        arcs[e] = DiversionArc(
            id=_arc_id(e),
            tail=str(e[0]),
            head=str(e[1]),
            free_time_s=float(d["travel_time"]),
            capacity_vph=round(capacity, 1),
            background_vph=round(background, 1),
        )
    compliant = float(round(cfg.compliance * flow))  # whole vehicles, as the allocation
    return _Flows(round(flow, 1), source, arcs, mainline, len(stretch), compliant)


def _arc_id(e: EdgeKey) -> str:
    return f"{e[0]}-{e[1]}-{e[2]}"


def _no_advice_time(
    rg: RoutableGraph,
    incident: Incident,
    cand: Candidates,
    flows: _Flows,
    around: Alternative | None,
    states: Mapping[EdgeKey, LinkState],
    cfg: RerouteConfig,
) -> float:
    """Mean time per vehicle, from the farthest decision point to the end of the rejoin stretch,
    when no driver is advised: all the flow reaches the incident and, at a closure, takes the
    quickest way around from there (BPR with the flow added)."""

    def loaded(edges: Sequence[EdgeKey], added: float) -> float:
        total = 0.0
        for e in edges:
            d = rg.data(e)
            background, _ = link_flow(rg, e, states, cfg)
            capacity = float(d["capacity_vph"])
            if e in cand.affected:
                capacity *= incident.capacity_factor
            total += bpr_time_s(float(d["travel_time"]), background + added, capacity, cfg.bpr)
        return total

    to_link = loaded(flows.mainline[: -flows.stretch], 0.0)
    if incident.capacity_factor > 0:
        through = loaded(cand.affected, 0.0)
        return to_link + through + cand.rest_s.get(cand.affected[-1][1], 0.0)
    if around is None:
        return to_link + cfg.unserved_cost_s
    return to_link + loaded(around.edges, flows.flow_vph) + cand.rest_s[around.rejoin_node]


def discovery_node(rg: RoutableGraph, cand: Candidates) -> int:
    """The farthest node of the road less than ``DISCOVERY_M`` before the affected stretch."""
    node = cand.affected[0][0]
    distance = 0.0
    for e in reversed(cand.upstream):
        distance += float(rg.data(e)["length"])
        if distance >= DISCOVERY_M:
            break
        node = e[0]
    return node


@dataclass(frozen=True, slots=True)
class _Assigned:
    point: DecisionPoint
    paths: list[tuple[PathFlow, tuple[EdgeKey, ...]]]
    arriving_vph: float
    last: bool
    """The decision point nearest the affected stretch (nothing can be told after it)."""


def _by_decision_point(
    cand: Candidates, flows: _Flows, alloc: DiversionAllocation
) -> list[_Assigned]:
    """Each path of the allocation, told at the last decision point before it leaves the road."""
    edge_of = {a.id: e for e, a in flows.arcs.items()}
    points = {p.node: p for p in cand.decision_points}
    upstream = set(flows.mainline[: -flows.stretch])
    grouped: dict[int, list[tuple[PathFlow, tuple[EdgeKey, ...]]]] = {}
    for path in alloc.paths:
        edges = [edge_of[i] for i in path.arc_ids]
        k = 0
        while k < len(edges) and edges[k] in upstream:
            k += 1
        prefix = [e[0] for e in edges[: k + 1]]
        told = [i for i, n in enumerate(prefix) if n in points][-1]
        grouped.setdefault(prefix[told], []).append((path, tuple(edges[told:])))
    out = []
    arriving = flows.compliant_vph
    for p in cand.decision_points:  # farthest first
        paths = grouped.get(p.node, [])
        if paths:
            out.append(_Assigned(p, paths, arriving, p == cand.decision_points[-1]))
        arriving -= sum(path.flow_vph for path, _ in paths)
    return out


@dataclass(frozen=True, slots=True)
class DiversionModel:
    """The graph's findings and the optimiser's request for one incident (tests and benchmarks
    look inside; :func:`advise` turns it into events)."""

    candidates: Candidates
    others: dict[EdgeKey, float]
    """Capacity factor of the links other active incidents affect."""
    flows: _Flows | None = None
    request: DiversionRequest | None = None
    around: Alternative | None = None
    """The quickest way around from where drivers discover a closure (no advice)."""


def diversion_model(
    incident: Incident,
    affected: EdgeKey | Sequence[EdgeKey],
    ctx: RerouteContext,
    states: Mapping[EdgeKey, LinkState],
    cfg: RerouteConfig,
    others: Mapping[EdgeKey, float] | None = None,
) -> DiversionModel:
    """Decision points, alternatives and the allocation request (no request when the graph
    offers nothing: ``candidates.reason`` says why)."""
    rg = ctx.rg
    stretch = stretch_of(affected)
    rest = {e: f for e, f in (others or {}).items() if e not in stretch}
    closed = {e for e, f in rest.items() if f <= 0}
    cand = find_candidates(rg, stretch, closed=closed, signs=ctx.signs, policy=cfg.policy)
    if cand.reason is not None:
        return DiversionModel(cand, rest)
    around = None
    if incident.capacity_factor <= 0:
        seen_at = discovery_node(rg, cand)
        banned = {*closed, *stretch}
        around = quickest_way_around(rg, seen_at, cand.rest_s, banned, DETOUR_CUTOFF_S)
    flows = _flows(rg, incident, cand, states, rest, around.edges if around else (), cfg)
    request = DiversionRequest(
        id=incident.incident_id,
        arcs=tuple(flows.arcs.values()),
        source=str(cand.decision_points[0].node),
        supply_vph=flows.compliant_vph,
        exits={str(n): round(t, 1) for n, t in cand.rest_s.items()},
        bpr=cfg.bpr,
        pieces=cfg.pieces,
        unserved_cost_s=cfg.unserved_cost_s,
    )
    return DiversionModel(cand, rest, flows, request, around)


def advise(
    incident: Incident,
    affected: EdgeKey | Sequence[EdgeKey],
    ctx: RerouteContext,
    states: Mapping[EdgeKey, LinkState],
    now: datetime,
    cfg: RerouteConfig,
    *,
    others: Mapping[EdgeKey, float] | None = None,
) -> list[RerouteAdvice]:
    """The advice for one incident on ``affected`` (an edge, or a stretch of consecutive edges).

    ``states`` are the measured links (flow before the incident); ``others`` the capacity factor
    of links under other active incidents (0: closed)."""
    rg = ctx.rg
    stretch = stretch_of(affected)
    model = diversion_model(incident, stretch, ctx, states, cfg, others)
    cand = model.candidates
    valid_from = max(now, incident.starts_at)
    until = valid_from + timedelta(seconds=cfg.validity_s)
    valid_until = min(until, incident.ends_at) if incident.ends_at else until
    link = _advice_link(rg, stretch)
    if model.flows is None or model.request is None:
        reason = cand.reason or "no_alternative"
        return [
            _no_diversion(incident, link, reason, cand.detail, rg, cfg, valid_from, valid_until)
        ]
    flows, request = model.flows, model.request
    alloc = allocate(request, cfg.time_limit_s)
    baseline = _no_advice_time(rg, incident, cand, flows, model.around, states, cfg)
    assigned = _by_decision_point(cand, flows, alloc)
    digest = _digest(rg, incident, stretch, request, model.others, cfg, valid_from)
    if not assigned:
        detail = (
            f"the ways around have no spare capacity for the {flows.compliant_vph:.0f} veh/h "
            f"assumed to follow advice ({alloc.status})"
        )
        return [
            _no_diversion(incident, link, "no_capacity", detail, rg, cfg, valid_from, valid_until)
        ]
    return [
        _diversion(
            ctx, incident, link, a, alloc, flows, baseline, cfg, digest, valid_from, valid_until
        )
        for a in assigned
    ]


def cleared_advice(
    incident: Incident,
    affected: EdgeKey | Sequence[EdgeKey],
    ctx: RerouteContext,
    cfg: RerouteConfig,
    now: datetime,
) -> RerouteAdvice:
    """The advice that ends an incident's diversions: ``no_diversion``, ``incident_cleared``."""
    at = max(now, incident.starts_at)
    stretch = stretch_of(affected)
    return _no_diversion(
        incident,
        _advice_link(ctx.rg, stretch),
        "incident_cleared",
        f"cleared by {incident.reported_by}",
        ctx.rg,
        cfg,
        at,
        at,
    )


def _advice_link(rg: RoutableGraph, stretch: Sequence[EdgeKey]) -> AdviceLink:
    first = stretch[0]
    d = rg.data(first)
    return AdviceLink(
        osm_way_id=int(d["osmid"]),
        from_node=first[0],
        to_node=stretch[-1][1],
        name=rg.name(first),
        road_class=road_class(d),
        length_m=round(sum(float(rg.data(e)["length"]) for e in stretch), 1),
        capacity_vph=min(float(rg.data(e)["capacity_vph"]) for e in stretch),
    )


def _point(rg: RoutableGraph, p: DecisionPoint) -> AdvicePoint:
    node = rg.graph.nodes[p.node]
    return AdvicePoint(
        node=p.node,
        lat=float(node["y"]),
        lon=float(node["x"]),
        name=place_name(rg, p.node),
        channel=p.channel,
        distance_m=p.distance_m,
        approach_node=p.approach_edge[0],
    )


def _alternative(
    ctx: RerouteContext,
    index: int,
    path: PathFlow,
    edges: tuple[EdgeKey, ...],
    arriving: float,
    flows: _Flows,
) -> AdvisedAlternative:
    rg = ctx.rg
    nodes: list[int] = [edges[0][0]]
    for e in edges:
        nodes.extend(rg.data(e)["nodes"][1:])
    loads = [
        (a.background_vph + path.flow_vph) / a.capacity_vph
        for e in edges
        if (a := flows.arcs[e]).capacity_vph > 0
    ]
    approaches = tuple(
        dict.fromkeys(ap for pair in itertools.pairwise(nodes) if (ap := ctx.approach_at.get(pair)))
    )
    return AdvisedAlternative(
        index=index,
        share=round(path.flow_vph / arriving, 3) if arriving > 0 else 0.0,
        flow_vph=path.flow_vph,
        via=names_along(rg, edges),
        osm_way_ids=tuple(dict.fromkeys(int(rg.data(e)["osmid"]) for e in edges)),
        node_ids=tuple(nodes),
        length_m=round(sum(float(rg.data(e)["length"]) for e in edges), 1),
        free_time_s=path.free_time_s,
        expected_time_s=path.time_s,
        max_load_ratio=round(max(loads, default=0.0), 3),
        signal_approaches=approaches,
    )


def _diversion(
    ctx: RerouteContext,
    incident: Incident,
    link: AdviceLink,
    assigned: _Assigned,
    alloc: DiversionAllocation,
    flows: _Flows,
    baseline_s: float,
    cfg: RerouteConfig,
    digest: str,
    valid_from: datetime,
    valid_until: datetime,
) -> RerouteAdvice:
    alts = tuple(
        _alternative(ctx, i, path, edges, assigned.arriving_vph, flows)
        for i, (path, edges) in enumerate(assigned.paths)
    )
    diverted = sum(a.flow_vph for a in alts)
    mean_time = sum(p.time_s * p.flow_vph for p, _ in assigned.paths) / max(diverted, 1e-9)
    saving = baseline_s - mean_time
    total = sum(p.flow_vph * (baseline_s - p.time_s) for p, _ in assigned.paths)
    continuing = max(0.0, 1.0 - sum(a.share for a in alts))
    binding = tuple(
        f"{ctx.rg.name(e) or 'unnamed road'} ({a.id}) at capacity"
        for e, a in flows.arcs.items()
        if a.id in set(alloc.saturated)
    )
    point = _point(ctx.rg, assigned.point)
    last = assigned.last
    closed = incident.capacity_factor <= 0
    text: AdviceText = texts(
        incident,
        link,
        point,
        alts,
        continuing,
        baseline_s,
        saving,
        total / 3600.0,
        cfg.compliance,
        flow_vph=flows.flow_vph,
        last_before_closure=last and closed,
    )
    warnings = list(text.warnings)
    if flows.source == "assumed":
        warnings.append(
            f"no detector measures the affected link: its flow is assumed at "
            f"{cfg.assumed_load:.0%} of capacity ({flows.flow_vph:.0f} veh/h)"
        )
    if alloc.status == "feasible":
        warnings.append(
            "the solver stopped at its time limit: the split is feasible, not proven best"
        )
    if alloc.unserved_vph > 0:
        warnings.append(
            f"{alloc.unserved_vph:.0f} veh/h find no way around within capacity: "
            "they will queue or find their own way"
        )
    explanation = AdviceExplanation(
        method=METHOD,
        objective=OBJECTIVE,
        solver_status=alloc.status,
        flow_vph=flows.flow_vph,
        flow_source=flows.source,  # type: ignore[arg-type]  # one of the three literals
        continuing_share=round(continuing, 3),
        unserved_vph=alloc.unserved_vph,
        binding_constraints=binding,
        no_advice_time_s=round(baseline_s, 1),
        parameters=_parameters(cfg),
        text_en=text.en,
        text_fr=text.fr,
        warnings=tuple(warnings),
    )
    return RerouteAdvice(
        advice_id=hashlib.sha256(f"{digest}:{assigned.point.node}".encode()).hexdigest()[:20],
        incident_id=incident.incident_id,
        kind="diversion",
        affected_link=link,
        decision_point=point,
        alternatives=alts,
        expected_saving_s_per_veh=round(saving, 1),
        expected_saving_veh_h_per_h=round(total / 3600.0, 2),
        compliance_assumed=cfg.compliance,
        valid_from=valid_from,
        valid_until=valid_until,
        explanation=explanation,
        inputs_digest=digest,
        model_version=MODEL_VERSION,
    )


def _no_diversion(
    incident: Incident,
    link: AdviceLink,
    reason: str,
    detail: str,
    rg: RoutableGraph,
    cfg: RerouteConfig,
    valid_from: datetime,
    valid_until: datetime,
) -> RerouteAdvice:
    text = no_diversion_texts(incident, link, reason, detail)
    payload = msgspec.json.encode(
        {"incident": incident, "link": link, "reason": reason, "graph": rg.source_sha256},
        order="sorted",
    )
    digest = hashlib.sha256(payload).hexdigest()
    return RerouteAdvice(
        advice_id=digest[:20],
        incident_id=incident.incident_id,
        kind="no_diversion",
        reason=reason,
        affected_link=link,
        compliance_assumed=cfg.compliance,
        valid_from=valid_from,
        valid_until=valid_until,
        explanation=AdviceExplanation(
            method=METHOD,
            objective=OBJECTIVE,
            solver_status="not_run",
            flow_vph=incident.flow_vph or 0.0,
            flow_source="declared" if incident.flow_vph is not None else "assumed",
            continuing_share=1.0,
            unserved_vph=0.0,
            binding_constraints=(),
            no_advice_time_s=0.0,
            parameters=_parameters(cfg),
            text_en=text.en,
            text_fr=text.fr,
        ),
        inputs_digest=digest,
        model_version=MODEL_VERSION,
    )


def _parameters(cfg: RerouteConfig) -> dict[str, float | int | str]:
    p = cfg.policy
    return {
        "compliance": cfg.compliance,
        "max_alternatives": p.max_alternatives,
        "excluded_classes": ",".join(p.excluded_classes),
        "max_upstream_m": p.max_upstream_m,
        "rejoin_m": p.rejoin_m,
        "assumed_load": cfg.assumed_load,
        "bpr_alpha": cfg.bpr.alpha,
        "bpr_beta": cfg.bpr.beta,
    }


def _digest(
    rg: RoutableGraph,
    incident: Incident,
    stretch: Sequence[EdgeKey],
    request: DiversionRequest,
    others: Mapping[EdgeKey, float],
    cfg: RerouteConfig,
    valid_from: datetime,
) -> str:
    payload = msgspec.json.encode(
        {
            "graph": rg.source_sha256,
            "incident": incident,
            "affected": [list(e) for e in stretch],
            "request": request,
            "others": sorted([list(e), f] for e, f in others.items()),
            "config": _parameters(cfg),
            "policy": cfg.policy,
            "valid_from": valid_from,
            "model": MODEL_VERSION,
        },
        order="sorted",
    )
    return hashlib.sha256(payload).hexdigest()

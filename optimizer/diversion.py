"""Share a diverted flow among alternatives without pushing any link past its capacity.

Pure: typed arcs and supply in, typed allocation out. Following the OR-Tools samples,
:func:`allocation_data` builds the model data and :func:`allocate` solves it under a time limit.

The model is a min-cost flow written as a linear programme for MathOpt (GLOP). Every road link
(arc) is split into pieces of its spare capacity (capacity minus the traffic already on it); a
piece's unit cost is the BPR *marginal* travel time at its middle (what one more vehicle costs
everybody on the link, ``optimizer.link_state.marginal_time_s``), so the costs are convex and
increasing and the LP fills cheap pieces first: the system-optimal split, the piecewise-linear
approximation of the BPR curve. Piece bounds are the only capacities, so no arc ever carries more
than its spare capacity. Flow leaves the network at *exits* (rejoin points) whose own cost is the
time left to the common end; flow no arc can take goes on an ``unserved`` arc at a high cost, and
is reported (it will queue, or find its own way). Capacities and supply are whole vehicles per
hour: the constraint matrix is a network matrix, so the simplex vertex is integral.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import msgspec
from ortools.math_opt.python import mathopt

from optimizer.errors import OptimizerError
from optimizer.link_state import BprParams, bpr_time_s, marginal_time_s, system_cost_veh_s_per_h

SINK = "__exit__"
UNSERVED = "__unserved__"
Status = Literal["optimal", "feasible", "infeasible"]


class InvalidDiversion(OptimizerError, ValueError):
    """A diversion request that cannot be modelled (unknown nodes, negative values)."""

    def __init__(self, request_id: str, reason: str) -> None:
        self.request_id = request_id
        self.reason = reason
        super().__init__(f"diversion {request_id}: {reason}")


class DiversionArc(msgspec.Struct, frozen=True, kw_only=True):
    """One road link the diverted flow may use."""

    id: str
    tail: str
    head: str
    free_time_s: float
    capacity_vph: float
    """What the link can carry per hour (0: closed)."""
    background_vph: float = 0.0
    """Traffic already on the link that the diversion does not move."""


class DiversionRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Flow ``supply_vph`` entering at ``source``, to be sent to any of ``exits``."""

    id: str
    arcs: tuple[DiversionArc, ...]
    source: str
    supply_vph: float
    exits: dict[str, float]
    """Exit node -> seconds still to drive from it to the common end of all alternatives."""
    bpr: BprParams = BprParams()
    pieces: int = 6
    """Pieces of each arc's spare capacity in the piecewise-linear cost."""
    unserved_cost_s: float = 1800.0
    """Cost of one vehicle the alternatives cannot take (it queues or finds its own way): high
    enough that any path within capacity is preferred."""


@dataclass(frozen=True, slots=True)
class ArcFlow:
    """The diverted flow on one arc and the link's state with it."""

    arc_id: str
    flow_vph: float
    load_ratio: float
    """(background + diverted) / capacity."""
    time_s: float
    """BPR travel time of the link with the diverted flow on it."""


@dataclass(frozen=True, slots=True)
class PathFlow:
    """One path of the flow decomposition: arcs from the source to an exit."""

    arc_ids: tuple[str, ...]
    exit_node: str
    flow_vph: float
    free_time_s: float
    """Free-flow time of the arcs plus the time left from the exit."""
    time_s: float
    """The same under the loads of the allocation (BPR)."""


@dataclass(frozen=True, slots=True)
class DiversionAllocation:
    """What the solver allocated, and why it is bounded where it is."""

    status: Status
    arcs: tuple[ArcFlow, ...]
    paths: tuple[PathFlow, ...]
    unserved_vph: float
    objective_veh_s_per_h: float
    """Extra vehicle-seconds per hour on the used arcs (BPR) plus the unserved cost."""
    saturated: tuple[str, ...]
    """Arcs filled to their capacity: the binding constraints."""
    solver: str
    wall_time_s: float


@dataclass(frozen=True, slots=True)
class _Piece:
    arc: int
    capacity: int
    cost: float


@dataclass(frozen=True, slots=True)
class AllocationData:
    """The model's data: nodes, pieces of every arc, supply."""

    nodes: tuple[str, ...]
    pieces: tuple[_Piece, ...]
    supply: int


def _spare(arc: DiversionArc) -> int:
    return max(0, int(arc.capacity_vph - arc.background_vph))


def allocation_data(req: DiversionRequest) -> AllocationData:
    """Pieces with their capacities and marginal costs; checks the request."""
    if req.supply_vph < 0:
        raise InvalidDiversion(req.id, f"negative supply {req.supply_vph}")
    nodes = {req.source, SINK, *req.exits}
    for a in req.arcs:
        if a.capacity_vph < 0 or a.background_vph < 0 or a.free_time_s < 0:
            raise InvalidDiversion(req.id, f"arc {a.id} has a negative capacity, flow or time")
        nodes |= {a.tail, a.head}
    pieces = []
    for i, a in enumerate(req.arcs):
        spare = _spare(a)
        n = max(1, min(req.pieces, spare))
        done = 0
        for p in range(n):
            size = spare // n + (1 if p < spare % n else 0)
            if size <= 0:
                continue
            middle = a.background_vph + done + size / 2
            pieces.append(
                _Piece(i, size, marginal_time_s(a.free_time_s, middle, a.capacity_vph, req.bpr))
            )
            done += size
    return AllocationData(tuple(sorted(nodes)), tuple(pieces), round(req.supply_vph))


def allocate(req: DiversionRequest, time_limit_s: float = 1.0) -> DiversionAllocation:
    """The system-optimal split of the supply (MathOpt, GLOP) under a time limit."""
    data = allocation_data(req)
    model = mathopt.Model(name=f"diversion-{req.id}")
    out_of: dict[str, list[mathopt.Variable]] = {n: [] for n in data.nodes}
    into: dict[str, list[mathopt.Variable]] = {n: [] for n in data.nodes}
    objective = []
    piece_vars = []
    for j, p in enumerate(data.pieces):
        arc = req.arcs[p.arc]
        x = model.add_variable(lb=0.0, ub=float(p.capacity), name=f"x{j}")
        piece_vars.append(x)
        out_of[arc.tail].append(x)
        into[arc.head].append(x)
        objective.append(p.cost * x)
    exit_vars = {}
    for node, rest in req.exits.items():
        y = model.add_variable(lb=0.0, ub=float(data.supply), name=f"exit-{node}")
        exit_vars[node] = y
        out_of[node].append(y)
        into[SINK].append(y)
        objective.append(rest * y)
    unserved = model.add_variable(lb=0.0, ub=float(data.supply), name="unserved")
    out_of[req.source].append(unserved)
    into[SINK].append(unserved)
    objective.append(req.unserved_cost_s * unserved)
    for n in data.nodes:
        supply = data.supply if n == req.source else (-data.supply if n == SINK else 0)
        model.add_linear_constraint(
            mathopt.fast_sum(out_of[n]) - mathopt.fast_sum(into[n]) == supply, name=f"node-{n}"
        )
    model.minimize(mathopt.fast_sum(objective))
    params = mathopt.SolveParameters(time_limit=timedelta(seconds=time_limit_s))
    result = mathopt.solve(model, mathopt.SolverType.GLOP, params=params)
    reason = result.termination.reason
    wall = result.solve_stats.solve_time.total_seconds()
    if reason == mathopt.TerminationReason.OPTIMAL:
        status: Status = "optimal"
    elif reason == mathopt.TerminationReason.FEASIBLE and result.has_primal_feasible_solution():
        status = "feasible"
    else:
        return DiversionAllocation(
            "infeasible", (), (), float(data.supply), float("inf"), (), "glop", wall
        )
    values = result.variable_values()
    flows = [0.0] * len(req.arcs)
    for p, x in zip(data.pieces, piece_vars, strict=True):
        flows[p.arc] += float(round(values[x]))
    exits = {n: float(round(values[y])) for n, y in exit_vars.items()}
    return _report(req, flows, exits, float(round(values[unserved])), status, wall)


def _report(
    req: DiversionRequest,
    flows: Sequence[float],
    exits: Mapping[str, float],
    unserved: float,
    status: Status,
    wall: float,
) -> DiversionAllocation:
    arc_flows = []
    saturated = []
    cost = unserved * req.unserved_cost_s
    for a, f in zip(req.arcs, flows, strict=True):
        if f <= 0:
            continue
        load = a.background_vph + f
        arc_flows.append(
            ArcFlow(
                arc_id=a.id,
                flow_vph=f,
                load_ratio=round(load / a.capacity_vph, 3) if a.capacity_vph > 0 else float("inf"),
                time_s=round(bpr_time_s(a.free_time_s, load, a.capacity_vph, req.bpr), 1),
            )
        )
        cost += system_cost_veh_s_per_h(a.free_time_s, a.background_vph, f, a.capacity_vph, req.bpr)
        if f >= _spare(a):
            saturated.append(a.id)
    cost += sum(req.exits[n] * f for n, f in exits.items())
    paths = decompose(req, flows, exits)
    return DiversionAllocation(
        status=status,
        arcs=tuple(arc_flows),
        paths=paths,
        unserved_vph=unserved,
        objective_veh_s_per_h=round(cost, 1),
        saturated=tuple(saturated),
        solver="glop",
        wall_time_s=wall,
    )


def decompose(
    req: DiversionRequest, flows: Sequence[float], exits: Mapping[str, float]
) -> tuple[PathFlow, ...]:
    """Paths carrying the arc flows, from the source to the exits.

    Greedy: follow the arc with the most flow left until a node with exit flow left, take the
    path's bottleneck off, repeat. Conservation guarantees every walk ends at an exit; costs are
    positive, so an optimal flow has no cycle to walk into.
    """
    remaining = list(flows)
    left_exit = dict(exits)
    by_tail: dict[str, list[int]] = {}
    for i, a in enumerate(req.arcs):
        by_tail.setdefault(a.tail, []).append(i)
    out: list[PathFlow] = []
    while sum(left_exit.values()) > 0:
        path: list[int] = []
        node = req.source
        seen = {node}
        while left_exit.get(node, 0.0) <= 0.0:
            options = [i for i in by_tail.get(node, []) if remaining[i] > 0]
            if not options:
                return tuple(out)
            i = max(options, key=lambda i: (remaining[i], -i))
            path.append(i)
            node = req.arcs[i].head
            if node in seen:
                return tuple(out)
            seen.add(node)
        if not path:
            left_exit[node] = 0.0  # flow leaving at the source itself: no path to describe
            continue
        flow = min([remaining[i] for i in path] + [left_exit[node]])
        for i in path:
            remaining[i] -= flow
        left_exit[node] -= flow
        out.append(_path_flow(req, path, node, flow, flows))
    return tuple(out)


def _path_flow(
    req: DiversionRequest, path: list[int], exit_node: str, flow: float, flows: Sequence[float]
) -> PathFlow:
    arcs = [req.arcs[i] for i in path]
    rest = req.exits[exit_node]
    free = sum(a.free_time_s for a in arcs) + rest
    loaded = sum(
        bpr_time_s(a.free_time_s, a.background_vph + flows[i], a.capacity_vph, req.bpr)
        for a, i in zip(arcs, path, strict=True)
    )
    return PathFlow(
        arc_ids=tuple(a.id for a in arcs),
        exit_node=exit_node,
        flow_vph=flow,
        free_time_s=round(free, 1),
        time_s=round(loaded + rest, 1),
    )

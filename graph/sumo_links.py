"""Road links between the signalised junctions of a SUMO network, for coordination.

From every edge leaving a traffic light, the road is followed straight ahead (SUMO's ``s``
connection direction, or the only connection when there is one) through unsignalised nodes until
it reaches an edge that enters another traffic light, or ``max_length_m`` of road. Each link
records the edge leaving the upstream light and the edge entering the downstream one, so a
caller can tell which phases release and receive its platoon, with the road's length and its
free-flow travel time (lengths over speed limits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from graph.errors import NetworkSourceError

MAX_LINK_M = 1000.0
"""Beyond a kilometre platoons have dispersed: coordinating them gains little."""


class SumoLink(msgspec.Struct, frozen=True, kw_only=True):
    """A road path from one traffic light to another."""

    from_junction: str
    to_junction: str
    first_edge: str
    """The edge leaving ``from_junction``."""
    last_edge: str
    """The edge entering ``to_junction``."""
    length_m: float
    travel_time_s: float


def _controlled_edges(net: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(incoming edge -> tls id, outgoing edge -> tls id) over every tls connection."""
    incoming: dict[str, str] = {}
    outgoing: dict[str, str] = {}
    for tls in sorted(net.getTrafficLights(), key=lambda t: t.getID()):
        for in_lane, out_lane, _ in tls.getConnections():
            incoming.setdefault(in_lane.getEdge().getID(), tls.getID())
            outgoing.setdefault(out_lane.getEdge().getID(), tls.getID())
    return incoming, outgoing


def _straight_next(edge: Any) -> Any | None:
    """The edge a vehicle going straight on takes after ``edge`` (``None``: no such edge)."""
    nxt: dict[str, Any] = {}
    straight: list[Any] = []
    for target, conns in edge.getOutgoing().items():
        if target.getFunction() == "internal":
            continue
        nxt[target.getID()] = target
        if any(c.getDirection() == "s" for c in conns):
            straight.append(target)
    if len(straight) == 1:
        return straight[0]
    if len(nxt) == 1:
        return next(iter(nxt.values()))
    return None


def links_from_net(net: Any, max_length_m: float = MAX_LINK_M) -> list[SumoLink]:
    """Links of a network already read with ``sumolib``."""
    incoming, outgoing = _controlled_edges(net)
    out: list[SumoLink] = []
    for first_id in sorted(outgoing):
        origin = outgoing[first_id]
        edge = net.getEdge(first_id)
        length = time = 0.0
        seen: set[str] = set()
        while edge is not None and edge.getID() not in seen:
            seen.add(edge.getID())
            length += float(edge.getLength())
            time += float(edge.getLength()) / max(float(edge.getSpeed()), 0.1)
            if length > max_length_m:
                break
            target = incoming.get(edge.getID())
            if target is not None:
                if target != origin:
                    out.append(
                        SumoLink(
                            from_junction=origin,
                            to_junction=target,
                            first_edge=first_id,
                            last_edge=edge.getID(),
                            length_m=round(length, 1),
                            travel_time_s=round(time, 1),
                        )
                    )
                break
            edge = _straight_next(edge)
    return out


def sumo_links(net_path: Path, max_length_m: float = MAX_LINK_M) -> list[SumoLink]:
    """Links between the traffic lights of ``net_path`` (see the module doc)."""
    import sumolib

    try:
        net = sumolib.net.readNet(str(net_path))
    except Exception as e:  # sumolib raises bare exceptions from its SAX handler
        raise NetworkSourceError(str(net_path), f"not a readable SUMO network: {e}") from e
    return links_from_net(net, max_length_m)

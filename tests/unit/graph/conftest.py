"""Hand-built networks for unit tests that must not depend on OSM parsing."""

from __future__ import annotations

import pytest

from graph.model import Approach, Junction, Network

# One degree of latitude is ~111.2 km; 0.001° ~ 111 m.
LAT0, LON0 = 45.7700, 4.8800


def cross_junction(jid: str = "osm-1", zone: str = "zone-osm-1") -> Junction:
    """A four-arm cross at (LAT0, LON0), approaches 100 m long from N, E, S and W."""
    d = 0.0009
    arms = {
        # name: (way id, upstream node, upstream lon/lat, bearing of travel)
        "N": (101, "11", (LON0, LAT0 + d), 180.0),
        "E": (102, "12", (LON0 + d * 1.43, LAT0), 270.0),
        "S": (103, "13", (LON0, LAT0 - d), 0.0),
        "W": (104, "14", (LON0 - d * 1.43, LAT0), 90.0),
    }
    approaches = tuple(
        Approach(
            id=f"{jid}:{way}:{node}",
            junction_id=jid,
            osm_way_id=way,
            from_node=node,
            to_node="1",
            bearing_deg=bearing,
            lanes=2,
            saturation_flow_vph=3600.0,
            free_speed_mps=13.9,
            length_m=100.0,
            road_class="secondary",
            node_ids=(node, f"{node}5", "1"),
            geometry=(start, ((start[0] + LON0) / 2, (start[1] + LAT0) / 2), (LON0, LAT0)),
        )
        for way, node, start, bearing in arms.values()
    )
    return Junction(
        id=jid,
        lat=LAT0,
        lon=LON0,
        zone_id=zone,
        node_ids=("1",),
        approaches=approaches,
        movements=(),
        phases=(),
    )


@pytest.fixture
def cross_network() -> Network:
    return Network(source="test", source_sha256="0" * 64, junctions=(cross_junction(),))

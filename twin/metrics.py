"""Run metrics: RESCO's average delay and the usual SUMO trip figures, from tripinfo and the run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import msgspec


class TripTotals(msgspec.Struct, kw_only=True):
    """Sums over the tripinfo records of one run (unfinished trips included)."""

    trips: int = 0
    arrived: int = 0
    duration_s: float = 0.0
    waiting_s: float = 0.0
    time_loss_s: float = 0.0
    depart_delay_s: float = 0.0
    stops: int = 0
    co2_mg: float = 0.0


def read_tripinfo(path: Path) -> TripTotals:
    """Sum the tripinfo file SUMO wrote (``--tripinfo-output.write-unfinished`` keeps running
    trips).
    """
    t = TripTotals()
    for _, el in ET.iterparse(path):
        if el.tag == "tripinfo":
            t.trips += 1
            if float(el.attrib.get("arrival", "-1")) >= 0:
                t.arrived += 1
            t.duration_s += float(el.attrib["duration"])
            t.waiting_s += float(el.attrib["waitingTime"])
            t.time_loss_s += float(el.attrib["timeLoss"])
            t.depart_delay_s += float(el.attrib.get("departDelay", "0"))
            t.stops += int(el.attrib.get("waitingCount", "0"))
            em = el.find("emissions")
            if em is not None:
                t.co2_mg += float(em.attrib.get("CO2_abs", "0"))
            el.clear()
    return t


class RunMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """Key figures of one run. Averages are per vehicle unless named otherwise."""

    vehicles_inserted: int
    vehicles_arrived: int
    vehicles_never_inserted: int
    avg_delay_s: float
    """RESCO's delay: (timeLoss + departDelay of every trip + waiting of vehicles never inserted)
    divided by trips plus never-inserted vehicles."""
    avg_trip_time_s: float
    avg_waiting_time_s: float
    avg_time_loss_s: float
    avg_queue_veh: float
    """Halting vehicles on the signalised approaches, summed per junction, averaged over time and
    junctions.
    """
    stops_per_veh: float
    teleports: int
    co2_kg: float
    co2_g_per_veh: float
    sim_s: float
    wall_s: float


def compute_metrics(
    trips: TripTotals,
    *,
    never_inserted_wait_s: float,
    never_inserted: int,
    queue_mean_veh: float,
    teleports: int,
    sim_s: float,
    wall_s: float,
) -> RunMetrics:
    """Combine tripinfo sums with what the runner measured live."""
    n = max(trips.trips, 1)
    n_delay = max(trips.trips + never_inserted, 1)
    return RunMetrics(
        vehicles_inserted=trips.trips,
        vehicles_arrived=trips.arrived,
        vehicles_never_inserted=never_inserted,
        avg_delay_s=round(
            (trips.time_loss_s + trips.depart_delay_s + never_inserted_wait_s) / n_delay, 2
        ),
        avg_trip_time_s=round(trips.duration_s / n, 2),
        avg_waiting_time_s=round(trips.waiting_s / n, 2),
        avg_time_loss_s=round(trips.time_loss_s / n, 2),
        avg_queue_veh=round(queue_mean_veh, 3),
        stops_per_veh=round(trips.stops / n, 3),
        teleports=teleports,
        co2_kg=round(trips.co2_mg / 1e6, 3),
        co2_g_per_veh=round(trips.co2_mg / 1e3 / n, 2),
        sim_s=sim_s,
        wall_s=round(wall_s, 2),
    )

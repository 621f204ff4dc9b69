"""Counts to routeSampler input, a twin run read back per detector, and the fit statistics."""

from __future__ import annotations

import gzip
import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from twin.calibration import (
    CountRow,
    bin_counts,
    compare,
    counts_start,
    detector_records,
    edge_counts,
    geh,
    measured_detectors,
    read_count_rows,
    read_detector_edges,
    route_edge_counts,
    write_detector_edges,
    write_edgedata,
)
from twin.detectors import CountRecord
from twin.errors import CountsFileError

T0 = datetime(2026, 3, 10, 6, 30, tzinfo=UTC)


def test_geh_of_known_flows() -> None:
    assert geh(100, 100) == 0.0
    assert geh(0, 0) == 0.0
    assert geh(150, 100) == pytest.approx(math.sqrt(20))  # 2 * 50² / 250
    assert geh(100, 150) == geh(150, 100)
    assert geh(400, 500) > 4.7  # about 4.71: a site just inside the criterion


def test_counts_csv_is_read_and_bad_rows_are_named(tmp_path: Path) -> None:
    good = tmp_path / "c.csv.gz"
    good.write_bytes(
        gzip.compress(
            b"detector_id,interval_end,interval_s,count\n"
            b"A,2026-03-10T07:31:00+01:00,60,4\nB,2026-03-10T07:32:00+01:00,60,2\n"
        )
    )
    rows = read_count_rows(good)
    assert [(r.detector_id, r.count) for r in rows] == [("A", 4), ("B", 2)]
    assert counts_start(rows) == T0
    bad = tmp_path / "bad.csv"
    bad.write_text("detector_id,interval_end,interval_s,count\nA,2026-03-10T07:31:00,60,x\n")
    with pytest.raises(CountsFileError, match=r"bad\.csv:2"):
        read_count_rows(bad)
    (tmp_path / "cols.csv").write_text("detector_id,count\n")
    with pytest.raises(CountsFileError, match="missing column"):
        read_count_rows(tmp_path / "cols.csv")


def _rows(det: str, per_minute: list[int]) -> list[CountRow]:
    return [CountRow(det, T0 + timedelta(minutes=m + 1), 60, c) for m, c in enumerate(per_minute)]


def test_minutes_are_binned_by_their_end() -> None:
    rows = _rows("A", [1] * 30) + _rows("B", [2] * 31)  # B's 31st minute is past the window
    binned = bin_counts(rows, T0, 900, 2)
    assert binned == {"A": [15, 15], "B": [30, 30]}
    with pytest.raises(ValueError, match="cannot be binned"):
        bin_counts([CountRow("A", T0 + timedelta(hours=1), 3600, 5)], T0, 900, 4)


def test_detectors_on_one_edge_are_averaged_and_written_as_edgedata(tmp_path: Path) -> None:
    by_edge = edge_counts(
        {"A": [10, 20], "B": [11, 20], "C": [5, 5], "X": [1, 1]},
        {"A": "e1", "B": "e1", "C": "-e2"},
    )
    assert by_edge == {"e1": [11, 20], "-e2": [5, 5]}  # 10.5 rounds half up; X is not placed
    path = tmp_path / "counts.xml"
    assert write_edgedata(by_edge, 900, path) == 2
    intervals = ET.parse(path).getroot().findall("interval")
    assert [(i.get("begin"), i.get("end")) for i in intervals] == [("0", "900"), ("900", "1800")]
    assert {e.get("id"): e.get("entered") for e in intervals[1]} == {"e1": "20", "-e2": "5"}


def test_placement_round_trips(tmp_path: Path) -> None:
    write_detector_edges({"D2": "-e#1", "D1": "e#0"}, tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_text().splitlines()[1] == "D1,e#0"
    assert read_detector_edges(tmp_path / "p.csv") == {"D1": "e#0", "D2": "-e#1"}
    with pytest.raises(CountsFileError, match="demo-build"):
        read_detector_edges(tmp_path / "none.csv")


def test_route_file_counts_vehicles_per_edge_and_departure_interval(tmp_path: Path) -> None:
    path = tmp_path / "r.rou.xml"
    path.write_text(
        "<routes>"
        '<vehicle id="0" depart="10"><route edges="a b c"/></vehicle>'
        '<vehicle id="1" depart="899.9"><route edges="b d"/></vehicle>'
        '<vehicle id="2" depart="900"><route edges="a a2 b"/></vehicle>'
        '<vehicle id="3" depart="1800"><route edges="b"/></vehicle>'
        "</routes>"
    )
    assert route_edge_counts(path, ["a", "b", "z"], 900, 2) == {
        "a": [1, 1],
        "b": [2, 1],  # vehicle 3 departs after the two intervals
        "z": [0, 0],
    }


def _loop(lane: str, minute: int, count: int) -> CountRecord:
    return CountRecord(
        detector_id=f"twin_{lane}",
        interval_end=T0 + timedelta(minutes=minute),
        interval_s=60,
        count=count,
    )


def test_twin_loops_are_summed_per_edge_for_each_detector_there() -> None:
    records = [_loop("e#0_0", 1, 3), _loop("e#0_1", 1, 4), _loop("f_0", 1, 9), _loop("e#0_0", 2, 1)]
    placed = {"D1": "e#0", "D2": "e#0", "D3": "g"}
    out = detector_records(records, placed)
    assert [(r.detector_id, r.interval_end.minute, r.count) for r in out] == [
        ("D1", 31, 7),
        ("D2", 31, 7),
        ("D1", 32, 1),
        ("D2", 32, 1),
    ]
    assert measured_detectors(records, placed) == {"D1", "D2"}  # no loop on g


def test_compare_counts_sites_within_the_criterion() -> None:
    observed = {"A": [100, 100, 100, 100], "B": [100, 100, 100, 100], "C": [0, 0, 0, 0]}
    simulated = {"A": [100, 100, 100, 100], "B": [50, 50, 50, 50], "D": [1, 1, 1, 1]}
    fit = compare(observed, simulated, 900)
    assert fit.detectors == 2
    assert fit.intervals == 4
    assert fit.hourly_geh_ok == 0.5  # A: 400/400; B: 200 vs 400 is GEH 11.5
    assert fit.interval_geh_ok == 0.5  # B's quarters: 200 vs 400 veh/h equivalent
    assert fit.mae == 100.0
    assert fit.observed_total == 800
    assert fit.simulated_total == 600
    assert fit.worst[0][:3] == ("B", 400, 200)
    assert math.isnan(fit.r2)  # every observed hour is the same: R² is undefined
    with pytest.raises(ValueError, match="divide an hour"):
        compare(observed, simulated, 700)
    with pytest.raises(ValueError, match="no whole hour"):
        compare({"A": [1]}, {"A": [1]}, 900)

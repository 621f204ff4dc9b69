"""DATEX II MeasuredDataPublication to readings: flows as counts, values joined by lane, faults
named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from importers import ImportFileError, import_datex2
from importers.datex2 import read_site_table

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datex2"
MEASURED = FIXTURES / "measured.xml"
TABLE = FIXTURES / "site-table.xml"


def test_a_site_with_one_flow_joins_its_speed_and_occupancy() -> None:
    result = import_datex2(MEASURED)
    by_id = {r.detector_id: r for r in result.readings}
    zola = by_id["MS-ZOLA-E"]
    assert zola.interval_end == datetime(2026, 3, 10, 16, 41, tzinfo=UTC)
    # 540 veh/h over 60 s.
    assert (zola.interval_s, zola.count, zola.mean_speed_kmh) == (60, 9, 31.5)
    assert zola.occupancy == pytest.approx(0.12)


def test_without_a_site_table_several_flows_stay_apart_and_speeds_are_not_guessed() -> None:
    result = import_datex2(MEASURED)
    by_id = {r.detector_id: r for r in result.readings}
    assert by_id["MS-VAUBAN-N/1"].count == 12
    assert by_id["MS-VAUBAN-N/2"].count == 5
    assert by_id["MS-VAUBAN-N/1"].mean_speed_kmh is None
    unpaired = [r for r in result.rejected if "not paired" in r.reason]
    assert len(unpaired) == 2
    assert all(r.line == 2 for r in unpaired)


def test_the_site_table_joins_values_of_one_lane() -> None:
    result = import_datex2(MEASURED, site_table=read_site_table(TABLE))
    by_id = {r.detector_id: r for r in result.readings}
    assert (by_id["MS-VAUBAN-N/lane1"].count, by_id["MS-VAUBAN-N/lane1"].mean_speed_kmh) == (12, 27)
    assert (by_id["MS-VAUBAN-N/lane2"].count, by_id["MS-VAUBAN-N/lane2"].mean_speed_kmh) == (5, 22)
    # A site the table does not list is read as without a table.
    assert by_id["MS-ZOLA-E"].mean_speed_kmh == 31.5


def test_faults_and_missing_periods_are_named() -> None:
    result = import_datex2(MEASURED)
    reasons = [r.reason for r in result.rejected]
    assert any("MS-FAULTY" in r and "dataError (boucle hors service)" in r for r in reasons)
    assert any("MS-NOPERIOD" in r and "--interval" in r for r in reasons)
    with_interval = import_datex2(MEASURED, interval_s=60)
    lorry = next(r for r in with_interval.readings if r.detector_id == "MS-NOPERIOD")
    assert (lorry.count, lorry.vehicle_class) == (2, "hgv")


def test_time_marks_start_dates_the_reading_by_the_interval_end() -> None:
    result = import_datex2(MEASURED, time_marks="start")
    zola = next(r for r in result.readings if r.detector_id == "MS-ZOLA-E")
    assert zola.interval_end == datetime(2026, 3, 10, 16, 42, tzinfo=UTC)


def test_a_site_table_is_not_a_measured_publication() -> None:
    with pytest.raises(
        ImportFileError,
        match="MeasurementSiteTablePublication document, not a MeasuredDataPublication",
    ):
        import_datex2(TABLE)


def test_malformed_xml_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.xml"
    f.write_text('<?xml version="1.0"?>\n<d2LogicalModel>\n<oops>\n</d2LogicalModel>\n')
    with pytest.raises(ImportFileError, match=r"bad.xml:4: not well-formed"):
        import_datex2(f)


def test_a_missing_file() -> None:
    with pytest.raises(ImportFileError, match="file not found"):
        import_datex2(Path("/nonexistent/x.xml"))

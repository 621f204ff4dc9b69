"""``aiguilleur import``: real files in, readings on the real broker's input topic; the shared
real exports and the DATEX II standard's XSD when they are on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import msgspec
import pytest

from importers import PARIS, SIREDO, import_csv
from streams.events import TrafficCount
from streams.topics import TopicNames
from tests.integration.conftest import collect

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
DATEX = REPO / "tests" / "fixtures" / "datex2"


def _shared() -> Path:
    env = os.environ.get("AIGUILLEUR_SHARED_DATA")
    base = Path(env) if env else REPO.parent / "shared" / "data"
    if not base.is_dir():
        pytest.skip(
            "shared data not found: set AIGUILLEUR_SHARED_DATA or use <repo>/../shared/data"
        )
    return base


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiguilleur", "import", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


async def test_datex2_readings_are_published_on_the_input_topic(kafka_bootstrap: str) -> None:
    ns = f"imp-{uuid.uuid4().hex[:8]}"
    done = _cli(
        "datex2",
        str(DATEX / "measured.xml"),
        "--interval",
        "60",
        "--site-table",
        str(DATEX / "site-table.xml"),
        "--publish",
        env={"AIGUILLEUR_KAFKA_BOOTSTRAP": kafka_bootstrap, "AIGUILLEUR_TOPIC_NAMESPACE": ns},
    )
    assert done.returncode == 0, done.stderr
    assert "4 readings published" in done.stderr
    assert "MS-FAULTY index 1: marked dataError" in done.stderr
    recs = await collect(kafka_bootstrap, TopicNames(ns).counts, 4, timeout_s=60)
    got = {r.key: msgspec.json.decode(r.value or b"", type=TrafficCount) for r in recs}
    assert set(got) == {b"MS-ZOLA-E", b"MS-VAUBAN-N/lane1", b"MS-VAUBAN-N/lane2", b"MS-NOPERIOD"}
    assert got[b"MS-VAUBAN-N/lane1"].mean_speed_kmh == 27


def test_csv_import_writes_what_replay_reads_and_fails_clearly(tmp_path: Path) -> None:
    f = tmp_path / "S9.csv"
    f.write_text("heure;vitesse;debit;occupation\n07:00;50;30;0.1\n07:06;x;31;0.1\n")
    out = tmp_path / "counts.csv"
    done = _cli("csv", str(f), "--format", "siredo", "--date", "2026-03-10", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "S9.csv:3: speed not a number: 'x'" in done.stderr
    assert out.read_text().splitlines()[1].startswith("S9,2026-03-10T06:06:00+00:00,360,30,")
    missing = _cli("csv", str(f), "--format", "siredo")
    assert missing.returncode == 2
    assert "--date" in missing.stderr
    unknown = _cli("csv", str(f), "--format", "nope")
    assert unknown.returncode == 2
    assert "presets: paris, siredo" in unknown.stderr


@pytest.mark.shared_data
def test_a_real_siredo_station_day_imports_whole() -> None:
    station = _shared() / "counts" / "marseille-siredo" / "A.Comptages_SIREDO_pleine_voie"
    files = sorted(station.glob("*.csv"))
    assert files
    for f in files:
        rows = len(f.read_text(encoding="utf-8", errors="replace").splitlines()) - 1
        result = import_csv(f, SIREDO, date(2019, 3, 4))
        # Every row gives its count; the few bad occupancies ("inf") are left out and said.
        assert len(result.readings) == rows
        assert all("left out, count kept" in r.reason for r in result.rejected), result.rejected
        assert {r.interval_s for r in result.readings} == {360}


@pytest.mark.shared_data
def test_the_real_paris_rows_without_flow_are_named() -> None:
    f = _shared() / "counts" / "paris-format" / "paris_comptages_routiers_5rows_example.csv"
    result = import_csv(f, PARIS)
    # The five published example rows carry an occupancy but no flow (Débit horaire empty).
    assert not result.readings
    assert [r.line for r in result.rejected] == [2, 3, 4, 5, 6]
    assert all("count empty" in r.reason for r in result.rejected)


@pytest.mark.shared_data
def test_the_datex2_test_documents_are_valid_datex2() -> None:
    import xmlschema

    xsd = _shared() / "schemas" / "datex2" / "DATEXIISchema_2_2_3.xsd"
    schema = xmlschema.XMLSchema(str(xsd))
    for doc in ("measured.xml", "site-table.xml"):
        errors = list(schema.iter_errors(str(DATEX / doc)))
        assert not errors, (doc, [e.reason for e in errors[:3]])

"""CSV exports to readings: presets, a custom mapping, and every bad row named with its line."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiguilleur.replay import BadRow, read_counts
from importers import (
    PARIS,
    SIREDO,
    ImportFileError,
    MappingError,
    import_csv,
    load_mapping,
    resolve_mapping,
    write_replay_csv,
)

PARIS_HEADER = (
    "Identifiant arc;Libelle;Date et heure de comptage;Débit horaire;Taux d'occupation;"
    "Etat trafic\n"
)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_paris_rows_become_hourly_counts(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "paris.csv",
        PARIS_HEADER
        + "5462;AE_A4;2025-11-04T17:00:00+01:00;612;5.25;Fluide\n"
        + "5462;AE_A4;2025-11-04T18:00:00+01:00;;5.1;Fluide\n"
        + "5463;AE_A4;2025-11-04T18:00:00+01:00;abc;5.1;Fluide\n"
        + "5464;AE_A4;04/11/2025 18h;100;5.1;Fluide\n"
        + ";AE_A4;2025-11-04T18:00:00+01:00;100;5.1;Fluide\n",
    )
    result = import_csv(f, PARIS)
    assert len(result.readings) == 1
    r = result.readings[0]
    assert r.detector_id == "paris-arc-5462"
    # The row stamps the hour it covers (its start); a reading is dated by its end.
    assert r.interval_end == datetime(2025, 11, 4, 17, 0, tzinfo=UTC)
    assert (r.interval_s, r.count, r.occupancy) == (3600, 612, pytest.approx(0.0525))
    reasons = {b.line: b.reason for b in result.rejected}
    assert set(reasons) == {3, 4, 5, 6}
    assert "empty" in reasons[3]
    assert "not a number: 'abc'" in reasons[4]
    assert "does not match" in reasons[5]
    assert reasons[6] == "no detector id"


def test_siredo_takes_the_station_from_the_file_name_and_the_day_from_the_caller(
    tmp_path: Path,
) -> None:
    f = _write(
        tmp_path / "M3b_O_JOB.csv",
        "heure;vitesse;debit;occupation\n00:00;71.62;37.48;0.00963\n00:06;70.90;35.10;0.00872\n",
    )
    with pytest.raises(ImportFileError, match="--date"):
        import_csv(f, SIREDO)
    result = import_csv(f, SIREDO, date(2019, 3, 4))
    assert not result.rejected
    first, second = result.readings
    assert first.detector_id == "M3b_O_JOB"
    # 00:00 in Paris in March is 23:00 UTC the day before; the row covers 00:00-00:06.
    assert first.interval_end == datetime(2019, 3, 3, 23, 6, tzinfo=UTC)
    assert (first.interval_s, first.count, first.mean_speed_kmh) == (360, 37, 71.62)
    assert second.occupancy == pytest.approx(0.00872)


def test_a_time_that_does_not_exist_in_local_time_is_rejected(tmp_path: Path) -> None:
    f = _write(tmp_path / "S1.csv", "heure;vitesse;debit;occupation\n02:30;50;10;0.1\n")
    # 2026-03-29: clocks in Paris jump from 02:00 to 03:00.
    result = import_csv(f, SIREDO, date(2026, 3, 29))
    assert not result.readings
    assert result.rejected[0].line == 2


def test_a_custom_mapping_with_decimal_commas_in_latin_1(tmp_path: Path) -> None:
    mapping = _write(
        tmp_path / "ville.toml",
        """
separator = ";"
decimal_comma = true
encoding = "latin-1"
interval_s = 300

[detector]
column = "capteur"
prefix = "v-"

[time]
column = "fin période"
format = "%d/%m/%Y %H:%M"
timezone = "Europe/Paris"
marks = "end"

[count]
column = "véhicules"

[occupancy]
column = "taux"
unit = "percent"
""",
    )
    f = _write(
        tmp_path / "export.csv",
        "capteur;fin période;véhicules;taux\n"
        "C1;10/03/2026 17:45;42;12,5\n"
        "C2;10/03/2026 17:45;-3;1\n",
        "cp1252",
    )
    result = import_csv(f, load_mapping(mapping))
    (r,) = result.readings
    assert r.detector_id == "v-C1"
    assert r.interval_end == datetime(2026, 3, 10, 16, 45, tzinfo=UTC)
    assert (r.count, r.occupancy) == (42, pytest.approx(0.125))
    (bad,) = result.rejected
    assert bad.line == 3
    assert "$.count" in bad.reason  # the contract's own validation message


def test_missing_columns_name_what_the_file_has(tmp_path: Path) -> None:
    f = _write(tmp_path / "x.csv", "a,b\n1,2\n")
    # A comma-separated file read with the preset's ';': one column, and the hint says so.
    with pytest.raises(
        ImportFileError, match=r"missing column.*'Identifiant arc'.*'a,b'.*separator"
    ):
        import_csv(f, PARIS)


def test_a_non_utf8_file_says_which_line_and_what_to_do(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "x.csv", "heure;vitesse;debit;occupation\n00:00;1;1;0\n00:06;é;1;0\n", "cp1252"
    )
    with pytest.raises(ImportFileError, match=r"x.csv:3: not UTF-8.*latin-1"):
        import_csv(f, SIREDO, date(2026, 1, 5))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("interval_s = 60\n[time]\ncolumn='t'\nformat='%H'\n[count]\ncolumn='c'\n", "detector"),
        (
            "[detector]\ncolumn='d'\n[time]\ncolumn='t'\nformat='%H'\n[count]\ncolumn='c'\n",
            "interval_s",
        ),
        (
            "interval_s=60\n[detector]\ncolumn='d'\nfrom_filename=true\n[time]\ncolumn='t'\n"
            "format='%H'\n[count]\ncolumn='c'\n",
            "detector",
        ),
        (
            "interval_s=60\n[detector]\ncolumn='d'\n[time]\ncolumn='t'\nformat='%H'\n"
            "[count]\ncolumn='c'\nunit='veh/min'\n",
            "count.unit",
        ),
    ],
)
def test_bad_mappings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(MappingError, match=rf"\[{key}\]"):
        load_mapping(_write(tmp_path / "m.toml", text))


def test_an_unknown_format_lists_the_presets() -> None:
    with pytest.raises(MappingError, match="paris, siredo"):
        resolve_mapping("no-such-format")


_counts = st.lists(
    st.tuples(
        st.sampled_from(["A", "B", "C7"]),
        st.integers(0, 23),
        st.integers(0, 3000),
        st.one_of(st.none(), st.floats(0, 100)),
    ),
    min_size=1,
    max_size=30,
)


@given(rows=_counts)
def test_what_an_import_writes_is_what_replay_reads(tmp_path_factory, rows) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("rt")
    lines = [PARIS_HEADER.rstrip("\n")]
    for det, hour, flow, occ in rows:
        occ_s = "" if occ is None else f"{occ}"
        lines.append(f"{det};L;2025-11-04T{hour:02d}:00:00+01:00;{flow};{occ_s};F")
    result = import_csv(_write(d / "p.csv", "\n".join(lines) + "\n"), PARIS)
    assert not result.rejected
    assert len(result.readings) == len(rows)
    out = d / "counts.csv"
    write_replay_csv(result.sorted(), out)
    bad: list[BadRow] = []
    back = read_counts(out, bad)
    assert not bad
    assert [(r.detector_id, r.interval_end, r.count) for r in back] == [
        (r.detector_id, r.interval_end, r.count) for r in result.sorted()
    ]
    assert all(
        (a.occupancy is None) == (b.occupancy is None)
        for a, b in zip(back, result.sorted(), strict=True)
    )


def test_a_non_finite_occupancy_is_left_out_and_the_count_kept(tmp_path: Path) -> None:
    # Real SIREDO exports carry "inf" occupancies now and then.
    f = _write(
        tmp_path / "S2.csv",
        "heure;vitesse;debit;occupation\n09:24;86.03;228.82;inf\n09:30;83.4;213.15;1.7\n",
    )
    result = import_csv(f, SIREDO, date(2019, 3, 4))
    assert [(r.count, r.occupancy, r.mean_speed_kmh) for r in result.readings] == [
        (229, None, 86.03),
        (213, None, 83.4),
    ]
    assert [(r.line, "left out, count kept" in r.reason) for r in result.rejected] == [
        (2, True),
        (3, True),
    ]
